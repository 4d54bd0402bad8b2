/**
 * A seeded pseudo-random generator, so that `--seed N` reproduces a run byte for byte.
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter, PractRand-clean, 128-bit state) seeded through
 * splitmix32; `fork` derives an independent stream per patient and per concern, so adding a
 * device to one patient does not shift the numbers of another.
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** 32-bit FNV-1a of a label, to derive named sub-streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export class Prng {
  #a: number
  #b: number
  #c: number
  #d: number
  #spare: number | undefined
  readonly seed: number

  constructor(seed: number) {
    this.seed = seed >>> 0
    const init = splitmix32(this.seed)
    this.#a = init()
    this.#b = init()
    this.#c = init()
    this.#d = init()
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  nextUint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0
    this.#d = (this.#d + 1) >>> 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) >>> 0
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0
    this.#c = (this.#c + t) >>> 0
    return t
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4_294_967_296
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next()
  }

  /** Integer uniform in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (this.#spare !== undefined) {
      const z = this.#spare
      this.#spare = undefined
      return mean + sd * z
    }
    let u = 0
    while (u === 0) u = this.next()
    const v = this.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.#spare = r * Math.sin(2 * Math.PI * v)
    return mean + sd * r * Math.cos(2 * Math.PI * v)
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** An independent generator for a named concern (e.g. `fork('p-0003/episodes')`). */
  fork(label: string): Prng {
    return new Prng((this.seed ^ hashLabel(label)) >>> 0)
  }
}
