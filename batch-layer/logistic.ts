/**
 * L2-penalised logistic regression, by hand (no ML dependency): the risk model's fit
 * (docs/CLINICAL.md, Early-warning risk model). Small enough to read in one sitting:
 *
 *   standardise  z_j = (x_j - mean_j) / sd_j, 0 when x_j is missing (NaN), i.e. at the mean;
 *                mean and sd from the training rows' present values (population sd; 1 when 0);
 *   minimise     L(b, w) = mean_i logloss(y_i, sigmoid(b + w.z_i)) + l2/2 * |w|^2
 *                (the intercept b is not penalised);
 *   by Newton    (b, w) -= H^-1 g, with g and H the gradient and Hessian of L, solved by Cholesky
 *                (H is positive definite for l2 > 0); a step that does not lower L is halved.
 *
 * Deterministic: rows are visited in order and every sum is taken in that order, the start is 0
 * and the number of steps is bounded, so the same rows give the same bytes.
 */
import { sigmoid } from '../lib/risk/model.ts'

/** The rows of a fit: `row(i, out)` writes row i's features into `out` (NaN: missing); `label(i)` is 0 or 1. */
export interface Rows {
  n: number
  d: number
  row(i: number, out: Float64Array): void
  label(i: number): number
}

export interface Standardiser {
  mean: Float64Array
  sd: Float64Array
}

/** Mean and population sd of each feature over the rows' present values: mean 0 when none is, sd 1 when it is 0. */
export function fitStandardiser(rows: Rows): Standardiser {
  const { n, d } = rows
  const count = new Float64Array(d)
  const mean = new Float64Array(d)
  const m2 = new Float64Array(d)
  const x = new Float64Array(d)
  for (let i = 0; i < n; i++) {
    rows.row(i, x)
    for (let j = 0; j < d; j++) {
      const v = x[j]!
      if (Number.isNaN(v)) continue
      // Welford: one pass, no cancellation for large values with a small spread.
      const c = ++count[j]!
      const delta = v - mean[j]!
      mean[j] = mean[j]! + delta / c
      m2[j] = m2[j]! + delta * (v - mean[j]!)
    }
  }
  const sd = new Float64Array(d)
  for (let j = 0; j < d; j++) {
    const s = count[j]! > 0 ? Math.sqrt(m2[j]! / count[j]!) : 0
    sd[j] = s > 0 && Number.isFinite(s) ? s : 1
  }
  return { mean, sd }
}

/** Standardises `x` in place: (x - mean) / sd, 0 for a missing value. */
export function standardise(s: Standardiser, x: Float64Array): Float64Array {
  for (let j = 0; j < x.length; j++) {
    const v = x[j]!
    x[j] = Number.isNaN(v) ? 0 : (v - s.mean[j]!) / s.sd[j]!
  }
  return x
}

export interface FitOptions {
  l2: number
  maxIterations: number
  /** Stop when no coefficient moves by more than this in a step. */
  tolerance: number
}

export interface LogisticFit {
  intercept: number
  weights: Float64Array
  iterations: number
  converged: boolean
  /** The penalised mean log-loss at the fit. */
  loss: number
}

/** Thrown when the Hessian cannot be factored: with l2 = 0 and a feature that separates the classes, or a constant one. */
export class SingularFit extends Error {}

/** Fits the model on standardised rows (`rows.row` gives z, no NaN). */
export function fitLogistic(rows: Rows, options: FitOptions): LogisticFit {
  const k = rows.d + 1
  let beta = new Float64Array(k)
  let loss = penalisedLoss(rows, beta, options.l2)
  for (let it = 1; it <= options.maxIterations; it++) {
    const { gradient, hessian } = derivatives(rows, beta, options.l2)
    const step = choleskySolve(hessian, gradient, k)
    let scale = 1
    let next = beta
    let nextLoss = loss
    // Step halving: a full Newton step can overshoot far from the optimum.
    for (let h = 0; h < 30; h++) {
      next = beta.map((b, j) => b - scale * step[j]!)
      nextLoss = penalisedLoss(rows, next, options.l2)
      if (nextLoss <= loss) break
      scale /= 2
    }
    let moved = 0
    for (let j = 0; j < k; j++) moved = Math.max(moved, Math.abs(next[j]! - beta[j]!))
    beta = next
    loss = nextLoss
    if (moved <= options.tolerance) return { intercept: beta[0]!, weights: beta.slice(1), iterations: it, converged: true, loss }
  }
  return { intercept: beta[0]!, weights: beta.slice(1), iterations: options.maxIterations, converged: false, loss }
}

/** The logit of one standardised row: beta[0] + sum_j beta[j+1] * z[j]. */
function logit(beta: Float64Array, z: Float64Array): number {
  let s = beta[0]!
  for (let j = 0; j < z.length; j++) s += beta[j + 1]! * z[j]!
  return s
}

/** Mean log-loss plus l2/2 |w|^2, the log-loss computed stably from the logit. */
export function penalisedLoss(rows: Rows, beta: Float64Array, l2: number): number {
  const z = new Float64Array(rows.d)
  let sum = 0
  for (let i = 0; i < rows.n; i++) {
    rows.row(i, z)
    const s = logit(beta, z)
    // log(1 + e^s) - y*s, without overflow.
    sum += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - rows.label(i) * s
  }
  let pen = 0
  for (let j = 1; j < beta.length; j++) pen += beta[j]! * beta[j]!
  return sum / Math.max(1, rows.n) + (l2 / 2) * pen
}

/** Gradient and Hessian (row-major, k x k) of the penalised mean log-loss at `beta`. */
function derivatives(rows: Rows, beta: Float64Array, l2: number): { gradient: Float64Array; hessian: Float64Array } {
  const k = beta.length
  const g = new Float64Array(k)
  const h = new Float64Array(k * k)
  const z = new Float64Array(rows.d)
  const zt = new Float64Array(k)
  zt[0] = 1
  for (let i = 0; i < rows.n; i++) {
    rows.row(i, z)
    zt.set(z, 1)
    const p = sigmoid(logit(beta, z))
    const r = p - rows.label(i)
    const w = p * (1 - p)
    for (let a = 0; a < k; a++) {
      const za = zt[a]!
      g[a] = g[a]! + r * za
      const wa = w * za
      // Lower triangle only; mirrored below.
      for (let b = 0; b <= a; b++) h[a * k + b] = h[a * k + b]! + wa * zt[b]!
    }
  }
  const n = Math.max(1, rows.n)
  for (let a = 0; a < k; a++) {
    g[a] = g[a]! / n + (a > 0 ? l2 * beta[a]! : 0)
    for (let b = 0; b <= a; b++) {
      const v = h[a * k + b]! / n + (a === b && a > 0 ? l2 : 0)
      h[a * k + b] = v
      h[b * k + a] = v
    }
  }
  return { gradient: g, hessian: h }
}

/** Solves A x = b for a symmetric positive definite A (row-major, k x k) by Cholesky; throws SingularFit. */
export function choleskySolve(a: Float64Array, b: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k)
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j]!
      for (let m = 0; m < j; m++) s -= l[i * k + m]! * l[j * k + m]!
      if (i === j) {
        if (!(s > 1e-12)) throw new SingularFit(`the fit's Hessian is not positive definite at coefficient ${i}`)
        l[i * k + i] = Math.sqrt(s)
      } else l[i * k + j] = s / l[j * k + j]!
    }
  }
  const y = new Float64Array(k)
  for (let i = 0; i < k; i++) {
    let s = b[i]!
    for (let m = 0; m < i; m++) s -= l[i * k + m]! * y[m]!
    y[i] = s / l[i * k + i]!
  }
  const x = new Float64Array(k)
  for (let i = k - 1; i >= 0; i--) {
    let s = y[i]!
    for (let m = i + 1; m < k; m++) s -= l[m * k + i]! * x[m]!
    x[i] = s / l[i * k + i]!
  }
  return x
}
