/**
 * The physiology of one simulated patient: what each vital is at a given moment of simulated
 * time. A value is the sum of
 *  - the patient's baseline (drawn around the persona's),
 *  - a circadian rhythm (heart rate and temperature lowest around 04:00 and highest in the late
 *    afternoon, the morning surge of blood pressure),
 *  - meals, which drive glucose excursions (gamma-shaped rise peaking about 50 min after eating),
 *  - slow drift: an Ornstein-Uhlenbeck process per vital (mean-reverting, so values wander but
 *    stay plausible), sampled exactly for the time elapsed since its last sample,
 *  - episodes with onset, plateau and recovery, whose effects are correlated across vitals
 *    (fever raises heart rate ~10 bpm/°C and respiratory rate; desaturation and hypotension raise
 *    heart rate; hypoglycaemia causes an adrenergic tachycardia),
 *  - measurement noise of the device.
 * The nurse's observations (assess) are the persona's oxygen and the level of consciousness: alert,
 * or "C" (new confusion) while a confusion episode is at half its intensity or more.
 * Everything random comes from seeded generators forked per patient, so a run is reproducible.
 */
import type { Consciousness, Vital, Vitals } from '../lib/contract/schema.ts'
import type { Prng } from './prng.ts'
import { EPISODE_SHAPES, type Baselines, type EpisodeKind, type Persona } from './personas.ts'

export interface Episode {
  kind: EpisodeKind
  /** Epoch ms of the start of onset, of the plateau, of recovery, and of the end. */
  start: number
  plateau: number
  recovery: number
  end: number
  /** 0.5 (a warning for most vitals) to 1 (critical). */
  severity: number
}

/** Relaxation time (s) and stationary standard deviation of each vital's drift. */
const DRIFT: Readonly<Record<Vital, { tauS: number; sd: number }>> = {
  heartRate: { tauS: 600, sd: 4 },
  spo2: { tauS: 300, sd: 0.5 },
  glucose: { tauS: 2400, sd: 10 },
  systolic: { tauS: 1800, sd: 5 },
  diastolic: { tauS: 1800, sd: 3 },
  respRate: { tauS: 900, sd: 1 },
  temperature: { tauS: 7200, sd: 0.12 },
}

/** Device measurement noise (standard deviation): CGM ~9 % MARD, cuff ±4 mmHg, oximeter ±1 %. */
const NOISE: Readonly<Record<Vital, number>> = {
  heartRate: 1.2,
  spo2: 0.3,
  glucose: 3,
  systolic: 3,
  diastolic: 2,
  respRate: 0.6,
  temperature: 0.05,
}

/** Episodes that cannot happen together (they push the same vital in opposite directions). */
const OPPOSED: Partial<Record<EpisodeKind, string>> = {
  hypoglycaemia: 'glucose',
  hyperglycaemia: 'glucose',
  hypotension: 'bloodPressure',
  hypertensiveCrisis: 'bloodPressure',
}

/** Intensity of a confusion episode from which the patient is "C" (new confusion) rather than alert. */
const CONFUSED_AT = 0.5

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

function smoothstep(x: number): number {
  if (x <= 0) return 0
  if (x >= 1) return 1
  return x * x * (3 - 2 * x)
}

/** 0 before and after the episode, rising to 1 over the onset, 1 on the plateau, falling over recovery. */
export function intensity(e: Episode, t: number): number {
  if (t <= e.start || t >= e.end) return 0
  if (t < e.plateau) return smoothstep((t - e.start) / (e.plateau - e.start))
  if (t < e.recovery) return 1
  return 1 - smoothstep((t - e.recovery) / (e.end - e.recovery))
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : Math.min(x, hi)
}

export class Patient {
  readonly id: string
  readonly persona: Persona
  readonly baselines: Baselines
  readonly #episodesRng: Prng
  readonly #mealsRng: Prng
  readonly #noise: Prng
  readonly #drift: Prng
  readonly #driftState: Record<Vital, { x: number; t: number }>
  readonly #episodes: Episode[] = []
  /** Episodes drawn since the last `takeDrawn()`: the simulation announces each once its onset comes. */
  #drawn: Episode[] = []
  /** Event time before which the episode schedule needs no work. */
  #checkAt = -Infinity
  readonly #timelines: Array<{ kinds: EpisodeKind[]; next: number; count: number; rng: Prng }>
  readonly #mealRise: number
  readonly #meals = new Map<number, Array<{ at: number; rise: number }>>()

  constructor(id: string, persona: Persona, rng: Prng, startMs: number) {
    this.id = id
    this.persona = persona
    const base = rng.fork(`${id}/baselines`)
    const b = persona.baselines
    this.baselines = {
      heartRate: b.heartRate + base.normal(0, 4),
      spo2: Math.min(99, b.spo2 + base.normal(0, 0.4)),
      glucose: b.glucose + base.normal(0, 6),
      systolic: b.systolic + base.normal(0, 5),
      diastolic: b.diastolic + base.normal(0, 3),
      respRate: b.respRate + base.normal(0, 1),
      temperature: b.temperature + base.normal(0, 0.1),
    }
    this.#episodesRng = rng.fork(`${id}/episodes`)
    this.#mealsRng = rng.fork(`${id}/meals`)
    this.#noise = rng.fork(`${id}/noise`)
    this.#drift = rng.fork(`${id}/drift`)
    this.#mealRise = base.uniform(persona.mealRise[0], persona.mealRise[1])
    const init = {} as Record<Vital, { x: number; t: number }>
    for (const v of Object.keys(DRIFT) as Vital[]) init[v] = { x: this.#drift.normal(0, DRIFT[v].sd), t: startMs }
    this.#driftState = init
    // Episodes that push one vital in opposite directions share a timeline and alternate.
    const groups = new Map<string, EpisodeKind[]>()
    for (const kind of new Set(persona.episodes)) {
      const g = OPPOSED[kind] ?? kind
      groups.set(g, [...(groups.get(g) ?? []), kind])
    }
    this.#timelines = [...groups.entries()].map(([group, kinds], i) => {
      const rng = this.#episodesRng.fork(group)
      const first = rng.uniform(persona.firstEpisodeS[0], persona.firstEpisodeS[1]) + i * 120
      return { kinds, next: startMs + first * 1000, count: 0, rng }
    })
  }

  /** The episodes in progress or to come (drawn lazily as simulated time advances; forgotten once over). */
  get episodes(): readonly Episode[] {
    return this.#episodes
  }

  /** True when episodes were drawn since the last `takeDrawn()`. */
  get hasDrawn(): boolean {
    return this.#drawn.length > 0
  }

  /**
   * The episodes drawn since the last call, each returned once, in the order drawn. Only reads what
   * `measure` and `assess` already drew (an hour ahead of event time): it draws nothing, so taking
   * them leaves every value of a seeded run as it was.
   */
  takeDrawn(): Episode[] {
    const drawn = this.#drawn
    this.#drawn = []
    return drawn
  }

  /**
   * Draws episodes until every timeline covers `t`; drops those that ended long ago. Each kind of
   * episode has its own timeline (a post-operative fever does not wait for a hypotension to end),
   * the first of timeline i starting i x 2 min after the persona's first-episode time, so that every
   * path shows early in a run.
   */
  #ensureEpisodes(t: number): void {
    if (t < this.#checkAt) return
    let next = Infinity
    for (const line of this.#timelines) {
      while (line.next <= t + HOUR_MS) {
        const r = line.rng
        const kind = line.kinds[line.count % line.kinds.length]!
        const shape = EPISODE_SHAPES[kind]
        const start = line.next
        const plateau = start + r.uniform(shape.onsetS[0], shape.onsetS[1]) * 1000
        const recovery = plateau + r.uniform(shape.plateauS[0], shape.plateauS[1]) * 1000
        const end = recovery + r.uniform(shape.recoveryS[0], shape.recoveryS[1]) * 1000
        // Alternate stronger and milder episodes so both the critical and the warning paths show.
        const round = Math.floor(line.count++ / line.kinds.length)
        const severity = round % 2 === 0 ? r.uniform(0.85, 1) : r.uniform(0.5, 0.7)
        const e: Episode = { kind, start, plateau, recovery, end, severity }
        let i = this.#episodes.length
        while (i > 0 && this.#episodes[i - 1]!.start > start) i--
        this.#episodes.splice(i, 0, e)
        this.#drawn.push(e)
        line.next = end + r.uniform(this.persona.gapS[0], this.persona.gapS[1]) * 1000
      }
      next = Math.min(next, line.next)
    }
    // Nothing to draw until a timeline's next episode comes within the hour.
    this.#checkAt = Math.min(next - HOUR_MS, t + 60_000)
  }

  /** Forgets episodes over before `t` (a patient's measurements come in time order). */
  #dropEnded(t: number): void {
    let i = 0
    while (i < this.#episodes.length && this.#episodes[i]!.end <= t) i++
    if (i > 0) this.#episodes.splice(0, i)
  }

  /** Meals of a UTC day: breakfast ~07:30, lunch ~12:30, dinner ~19:00, each ±40 min. */
  #mealsOf(day: number): Array<{ at: number; rise: number }> {
    let meals = this.#meals.get(day)
    if (meals === undefined) {
      const r = this.#mealsRng.fork(`day-${day}`)
      meals = [7.5, 12.5, 19].map((h) => ({ at: day * DAY_MS + (h + r.uniform(-0.67, 0.67)) * HOUR_MS, rise: this.#mealRise * r.uniform(0.7, 1.3) }))
      this.#meals.set(day, meals)
      if (this.#meals.size > 4) this.#meals.delete(this.#meals.keys().next().value!)
    }
    return meals
  }

  /** Glucose above baseline from meals of today and yesterday, mg/dL. */
  #mealEffect(t: number): number {
    const day = Math.floor(t / DAY_MS)
    let sum = 0
    const peakMs = 50 * 60_000
    for (const d of [day - 1, day]) {
      for (const m of this.#mealsOf(d)) {
        const dt = t - m.at
        if (dt <= 0 || dt > 6 * HOUR_MS) continue
        const x = dt / peakMs
        sum += m.rise * x * Math.exp(1 - x)
      }
    }
    return sum
  }

  /** Advances the exact OU transition of one vital's drift to time t. */
  #driftAt(v: Vital, t: number): number {
    const s = this.#driftState[v]
    const dt = (t - s.t) / 1000
    if (dt > 0) {
      const { tauS, sd } = DRIFT[v]
      const a = Math.exp(-dt / tauS)
      s.x = s.x * a + sd * Math.sqrt(1 - a * a) * this.#drift.normal()
      s.t = t
    }
    return s.x
  }

  /** The values of `vitals` measured at epoch ms `t`, rounded as devices report them. */
  measure(vitals: readonly Vital[], t: number): Vitals {
    this.#ensureEpisodes(t)
    if (this.#episodes.length > 0 && this.#episodes[0]!.end <= t) this.#dropEnded(t)
    const hourOfDay = (((t % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS
    // Circadian phase: cosine with its minimum at 04:00 and maximum at 16:00.
    const at: Moment = { t, hourOfDay, circ: -Math.cos(((hourOfDay - 4) / 24) * 2 * Math.PI), effects: this.#episodeEffects(t) }
    const out: Vitals = {}
    // One drift step, then one noise draw, per vital in the order asked: the seeded streams depend on it.
    for (const v of vitals) out[v] = this.#value(v, this.#driftAt(v, t), at)
    return out
  }

  /**
   * What the nurse's round records at `t`: supplemental oxygen (the persona's) and ACVPU. Draws
   * nothing random, so adding the round leaves every vital of a seeded run as it was.
   */
  assess(t: number): { onOxygen: boolean; consciousness: Consciousness } {
    this.#ensureEpisodes(t)
    if (this.#episodes.length > 0 && this.#episodes[0]!.end <= t) this.#dropEnded(t)
    let confusion = 0
    for (const e of this.#episodes) if (e.kind === 'confusion') confusion = Math.max(confusion, intensity(e, t))
    return { onOxygen: this.persona.onOxygen, consciousness: confusion >= CONFUSED_AT ? 'C' : 'A' }
  }

  /** The summed effects of the episodes in progress at `t`, fever's coupling to heart and respiratory rate included. */
  #episodeEffects(t: number): Effects {
    const e: Effects = { hr: 0, spo2: 0, glucoseTarget: undefined, glucoseWeight: 0, sys: 0, dia: 0, rr: 0, temp: 0 }
    for (const episode of this.#episodes) {
      if (episode.start >= t) break
      const k = intensity(episode, t)
      if (k !== 0) addEpisode(e, episode.kind, k, episode.severity, this.baselines.heartRate)
    }
    // Fever raises heart rate (~10 bpm per °C) and respiratory rate.
    e.hr += e.temp * 10
    e.rr += e.temp * 2
    return e
  }

  /** One vital's reported value: baseline + circadian + drift + episodes + device noise, clamped and rounded. */
  #value(v: Vital, d: number, { t, hourOfDay, circ, effects: e }: Moment): number {
    const b = this.baselines
    const n = this.#noise
    switch (v) {
      case 'heartRate':
        return Math.round(clamp(b.heartRate + 5 * circ + d + e.hr + n.normal(0, NOISE.heartRate), 30, 220))
      case 'spo2':
        return Math.round(clamp(b.spo2 + d + e.spo2 + n.normal(0, NOISE.spo2), 70, 100))
      case 'glucose': {
        const free = b.glucose + this.#mealEffect(t) + d
        const g = e.glucoseTarget === undefined ? free : free + (e.glucoseTarget - free) * e.glucoseWeight
        return Math.round(clamp(g + n.normal(0, NOISE.glucose), 40, 400))
      }
      case 'systolic': {
        // Morning surge: +8 mmHg around 08:00.
        const surge = 8 * Math.exp(-(((hourOfDay - 8) / 2) ** 2))
        return Math.round(clamp(b.systolic + 3 * circ + surge + d + e.sys + n.normal(0, NOISE.systolic), 60, 250))
      }
      case 'diastolic':
        return Math.round(clamp(b.diastolic + 2 * circ + d + e.dia + n.normal(0, NOISE.diastolic), 35, 150))
      case 'respRate':
        return Math.round(clamp(b.respRate + 0.8 * circ + d + e.rr + n.normal(0, NOISE.respRate), 6, 45))
      case 'temperature':
        return Math.round(clamp(b.temperature + 0.3 * circ + d + e.temp + n.normal(0, NOISE.temperature), 34, 42) * 10) / 10
    }
  }
}

/** What the episodes in progress add to each vital at one instant. */
interface Effects {
  hr: number
  spo2: number
  /** Glucose is pulled towards a target (hypo/hyper) with the episode's intensity as the weight. */
  glucoseTarget: number | undefined
  glucoseWeight: number
  sys: number
  dia: number
  rr: number
  temp: number
}

interface Moment {
  t: number
  hourOfDay: number
  circ: number
  effects: Effects
}

/** Adds one episode of intensity `k` (0-1) and severity `s` (0-1) to the effects. */
function addEpisode(e: Effects, kind: EpisodeKind, k: number, s: number, baselineHr: number): void {
  switch (kind) {
    case 'tachycardia':
      e.hr += k * (150 + 35 * s - baselineHr)
      e.rr += k * 4
      break
    case 'desaturation':
      e.spo2 -= k * (5 + 9 * s)
      e.hr += k * 15
      e.rr += k * (4 + 6 * s)
      break
    case 'fever':
      e.temp += k * (1.3 + 1.4 * s)
      break
    case 'hypotension':
      e.sys -= k * (30 + 35 * s)
      e.dia -= k * (18 + 14 * s)
      e.hr += k * 25
      break
    case 'hypertensiveCrisis':
      e.sys += k * (45 + 35 * s)
      e.dia += k * (15 + 17 * s)
      break
    case 'hypoglycaemia':
      e.glucoseTarget = 68 - 28 * s
      e.glucoseWeight = k
      e.hr += k * 14
      break
    case 'hyperglycaemia':
      e.glucoseTarget = 200 + 140 * s
      e.glucoseWeight = k
      break
    case 'confusion':
      // Seen by the nurse's round (assess), not by a sensor.
      break
  }
}
