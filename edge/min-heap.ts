/**
 * A binary min-heap under a strict order `less`: the simulator's devices by their next reading's
 * event time (simulator.ts) and the episodes waiting for their onset (episode-queue.ts). Each
 * push, pop and re-sort of the top is O(log n); ties are whatever `less` makes them, so a caller
 * that wants one deterministic order breaks them itself.
 */
export class MinHeap<T> {
  readonly #h: T[] = []
  readonly #less: (a: T, b: T) => boolean

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less
  }

  get size(): number {
    return this.#h.length
  }

  /** The least item; undefined when empty. */
  peek(): T | undefined {
    return this.#h[0]
  }

  push(item: T): void {
    const h = this.#h
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  /** Removes and returns the least item; undefined when empty. */
  pop(): T | undefined {
    const h = this.#h
    const top = h[0]
    const last = h.pop()
    if (h.length > 0) {
      h[0] = last!
      this.#siftDown(0)
    }
    return top
  }

  /** After the caller made the top item greater (a device's next reading moved on): puts it back in order. */
  topIncreased(): void {
    this.#siftDown(0)
  }

  #siftDown(i: number): void {
    const h = this.#h
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.#less(h[l]!, h[m]!)) m = l
      if (r < n && this.#less(h[r]!, h[m]!)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}
