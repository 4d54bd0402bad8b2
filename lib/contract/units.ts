/**
 * Unit conversions to the reading schema's units (docs/CONTRACT.md, The reading), shared by every
 * ingestion path (the FHIR gateway, the CSV replay) so that the same physical value gets the same
 * number, and so the same status, whichever way it arrived. Conversions are exact on the decimal
 * sent and never rounded.
 */

export type Converter = (x: number) => number
export const same: Converter = (x) => x

/** x = n / s exactly, for the decimal JavaScript prints for x (the one the JSON body carried); undefined for a non-finite x. */
function decimalOf(x: number): { n: bigint; s: bigint } | undefined {
  const m = /^(-?\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x))
  if (m === null) return undefined
  const [, int = '0', frac = '', exp = '0'] = m
  const e = Number(exp) - frac.length
  const digits = BigInt(int + frac)
  return e >= 0 ? { n: digits * 10n ** BigInt(e), s: 1n } : { n: digits, s: 10n ** BigInt(-e) }
}

/**
 * y = (a·x + b) / c, with a, b, c integers, computed exactly on the decimal x and rounded once:
 * the result is the double nearest the exact conversion (while numerator and denominator stay
 * below 2^53, i.e. for any value a device sends), so a value that converts exactly onto a band
 * edge lands on it: 100.4 [degF] is 38 Cel, where (100.4 - 32) * 5 / 9 is 38.00000000000001.
 */
export function affine(a: number, b: number, c: number): Converter {
  return (x) => {
    const d = decimalOf(x)
    if (d === undefined) return (a * x + b) / c
    return Number(BigInt(a) * d.n + BigInt(b) * d.s) / Number(BigInt(c) * d.s)
  }
}

/**
 * Glucose mmol/L to mg/dL. The CGM consensus (Battelino 2019, docs in lib/bands.ts) publishes its
 * edges in both units: <3.0 mmol/L = <54 mg/dL, <3.9 = <70, 3.9-10.0 = 70-180, >13.9 = >250. No
 * single factor maps all four pairs onto each other (the mg/dL edges are the mmol/L ones times 18,
 * rounded: 13.9 x 18 = 250.2, 13.9 x 18.016 = 250.4, 10.0 x 18.016 = 180.2), and the reading
 * carries mg/dL only, so the conversion runs through the published pairs: linear between them,
 * through 0 below 3.0, and with the molar-mass factor 18.016 mg/dL per mmol/L (glucose
 * 180.16 g/mol) above 13.9. Every mmol/L value thus falls in the mg/dL band whose mmol/L
 * counterpart holds it; the converted value stays within 0.43 mg/dL (0.4 %) of x x 18.016.
 * Pairs are [mmol/L in tenths, mg/dL], integers so that the arithmetic stays exact.
 */
const GLUCOSE_EDGE_PAIRS: readonly (readonly [number, number])[] = [
  [0, 0],
  [30, 54],
  [39, 70],
  [100, 180],
  [139, 250],
]
/** mg/dL per mmol/L above the last pair, as a fraction: 18.016 = 18016 / 1000. */
const GLUCOSE_MG_PER_MMOL = [18_016, 1_000] as const

/** The line through (x0/10, y0) and (x1/10, y1) as an affine converter (x in mmol/L, pairs in tenths). */
function throughPairs([x0, y0]: readonly [number, number], [x1, y1]: readonly [number, number]): Converter {
  return affine(10 * (y1 - y0), y0 * (x1 - x0) - x0 * (y1 - y0), x1 - x0)
}

const GLUCOSE_PIECES: readonly { below: number; convert: Converter }[] = [
  ...GLUCOSE_EDGE_PAIRS.slice(1).map((p, i) => ({ below: p[0] / 10, convert: throughPairs(GLUCOSE_EDGE_PAIRS[i]!, p) })),
  (() => {
    const [x0, y0] = GLUCOSE_EDGE_PAIRS[GLUCOSE_EDGE_PAIRS.length - 1]!
    const [p, q] = GLUCOSE_MG_PER_MMOL
    return { below: Infinity, convert: affine(10 * p, 10 * q * y0 - x0 * p, 10 * q) }
  })(),
]

/** Glucose in mmol/L to mg/dL through the consensus edge pairs (see GLUCOSE_EDGE_PAIRS). */
export function glucoseMmolToMgDl(mmol: number): number {
  const piece = GLUCOSE_PIECES.find((p) => mmol < p.below) ?? GLUCOSE_PIECES[GLUCOSE_PIECES.length - 1]!
  return piece.convert(mmol)
}

/**
 * mm[Hg] per kPa: 7.5, the conventional clinical factor. The physical one is 7.50062 (UCUM:
 * m[Hg] = 133.3220 kPa), but NEWS2's chart is in whole mmHg and 12.0 kPa x 7.50062 = 90.0074 would
 * score 2 where 90 mmHg scores 3 (and 29.2 kPa, 219.02, 3 where 219 scores 0). With 7.5 a kPa
 * value within 0.03 mmHg of a whole number (what a mmHg device shows) lands on that number; the
 * two factors differ by 0.008 % (0.02 mmHg at 250 mmHg).
 */
export const KPA_TO_MMHG = affine(15, 0, 2)

/** Fahrenheit to Celsius: (x - 32) x 5 / 9, exact on the decimal sent (100.4 is 38, not 38.00000000000001). */
export const fahrenheitToCelsius: Converter = affine(5, -160, 9)

/** Kelvin to Celsius: x - 273.15, exact on the decimal sent. */
export const kelvinToCelsius: Converter = affine(100, -27_315, 100)
