/**
 * Reading the string values of a Redis hash back into numbers and members of a closed set: the
 * shared lenient rules of the view codecs (a missing or unreadable field is `undefined`, never NaN).
 */

/** A finite number, or undefined for a missing, empty or non-numeric field. */
export function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined
  const n = Number(s)
  return Number.isFinite(n) ? n : undefined
}

/** `s` when it is one of `members`, else `fallback`. */
export function oneOf<T extends string>(members: readonly T[], s: string | undefined, fallback: T): T {
  return (members as readonly string[]).includes(s ?? '') ? (s as T) : fallback
}
