import { describe, expect, it } from 'vitest'
import { sigmoid } from '../lib/risk/model.ts'
import { choleskySolve, fitLogistic, fitStandardiser, SingularFit, standardise, type Rows } from './logistic.ts'
import { prng } from './synthetic.ts'

/** Rows drawn from a known logistic model: x ~ N(0, 1) per feature, y ~ Bernoulli(sigmoid(b + w.x)). */
function plantedRows(n: number, intercept: number, weights: readonly number[], seed: number): Rows {
  const rnd = prng(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd())
  const d = weights.length
  const x = new Float64Array(n * d)
  const y = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    let s = intercept
    for (let j = 0; j < d; j++) {
      x[i * d + j] = gauss()
      s += weights[j]! * x[i * d + j]!
    }
    y[i] = rnd() < sigmoid(s) ? 1 : 0
  }
  return { n, d, row: (i, out) => out.set(x.subarray(i * d, (i + 1) * d)), label: (i) => y[i]! }
}

const FIT = { l2: 0, maxIterations: 100, tolerance: 1e-10 }

describe('logistic regression', () => {
  it('recovers the weights and intercept of a planted model from 40 000 rows within 0.1', () => {
    const weights = [1.5, -2, 0.5, 0]
    const fit = fitLogistic(plantedRows(40_000, -1, weights, 7), { ...FIT, l2: 1e-6 })
    expect(fit.converged).toBe(true)
    expect(fit.intercept).toBeCloseTo(-1, 1)
    for (const [j, w] of weights.entries()) expect(Math.abs(fit.weights[j]! - w)).toBeLessThan(0.1)
  })

  it('gives the same bytes for the same rows', () => {
    const a = fitLogistic(plantedRows(5_000, 0.5, [1, -1], 3), { ...FIT, l2: 0.01 })
    const b = fitLogistic(plantedRows(5_000, 0.5, [1, -1], 3), { ...FIT, l2: 0.01 })
    expect(Buffer.from(a.weights.buffer)).toEqual(Buffer.from(b.weights.buffer))
    expect(a.intercept).toBe(b.intercept)
  })

  it('shrinks the weights toward 0 as the L2 penalty grows, and leaves a feature that is always 0 at weight 0', () => {
    const base = plantedRows(5_000, 0, [2], 5)
    const rows: Rows = {
      n: base.n,
      d: 2,
      row: (i, out) => {
        const one = new Float64Array(1)
        base.row(i, one)
        out[0] = one[0]!
        out[1] = 0
      },
      label: base.label,
    }
    const small = fitLogistic(rows, { ...FIT, l2: 0.001 })
    const large = fitLogistic(rows, { ...FIT, l2: 1 })
    expect(Math.abs(large.weights[0]!)).toBeLessThan(Math.abs(small.weights[0]!) / 2)
    expect(small.weights[1]).toBe(0)
  })

  it('refuses a fit without a penalty when a feature is always 0 (no unique solution)', () => {
    const rows: Rows = { n: 4, d: 1, row: (_, out) => out.fill(0), label: (i) => i % 2 }
    expect(() => fitLogistic(rows, FIT)).toThrow(SingularFit)
  })

  it('standardises with the mean and population sd of the present values, a missing value to 0 and a constant feature to sd 1', () => {
    const data = [
      [1, 5, Number.NaN],
      [3, 5, Number.NaN],
      [Number.NaN, 5, Number.NaN],
    ]
    const rows: Rows = { n: 3, d: 3, row: (i, out) => out.set(data[i]!), label: () => 0 }
    const s = fitStandardiser(rows)
    expect([...s.mean]).toEqual([2, 5, 0])
    expect([...s.sd]).toEqual([1, 1, 1])
    expect([...standardise(s, Float64Array.from([3, 5, Number.NaN]))]).toEqual([1, 0, 0])
    expect([...standardise(s, Float64Array.from([Number.NaN, 6, 2]))]).toEqual([0, 1, 2])
  })

  it('solves a symmetric positive definite system by Cholesky', () => {
    const a = Float64Array.from([4, 2, 2, 3])
    const x = choleskySolve(a, Float64Array.from([2, 1]), 2)
    expect(x[0]).toBeCloseTo(0.5, 12)
    expect(x[1]).toBeCloseTo(0, 12)
  })
})
