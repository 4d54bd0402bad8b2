/**
 * The episodes of a simulated ward waiting for their onset: a binary min-heap ordered by onset,
 * ties broken by the order they were queued, so that a seeded run hands them out in one
 * deterministic order. A ward of 100 000 patients holds about one episode per patient and
 * timeline an hour ahead; each push and pop is O(log n).
 */
import type { Episode } from './physiology.ts'

/** An episode of one patient whose onset event time has come. */
export interface StartedEpisode {
  patientId: string
  episode: Episode
}

interface Entry extends StartedEpisode {
  /** Order queued: the tie-breaker between equal onsets. */
  n: number
}

export class EpisodeQueue {
  readonly #heap: Entry[] = []
  #queued = 0

  /** Onset of the earliest episode queued, epoch ms; Infinity when none is. */
  get nextStart(): number {
    return this.#heap[0]?.episode.start ?? Infinity
  }

  get size(): number {
    return this.#heap.length
  }

  push(patientId: string, episode: Episode): void {
    const h = this.#heap
    h.push({ patientId, episode, n: this.#queued++ })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  /** Removes and returns the episodes whose onset is at or before `t`, earliest first. */
  popStartedBy(t: number): StartedEpisode[] {
    const out: StartedEpisode[] = []
    while (this.#heap.length > 0 && this.#heap[0]!.episode.start <= t) {
      const { patientId, episode } = this.#pop()
      out.push({ patientId, episode })
    }
    return out
  }

  #pop(): Entry {
    const h = this.#heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      this.#siftDown(0)
    }
    return top
  }

  #siftDown(i: number): void {
    const h = this.#heap
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && less(h[l]!, h[m]!)) m = l
      if (r < n && less(h[r]!, h[m]!)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.episode.start < b.episode.start || (a.episode.start === b.episode.start && a.n < b.n)
}
