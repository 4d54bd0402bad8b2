/**
 * One build shared by the callers that ask while it is under way: dashboards connecting together
 * (a shift change, 200 pages reconnecting after a server restart) share one read of the view
 * instead of each reading every patient (200 snapshots of 1,000 patients queued 200,000 Redis
 * commands, and most timed out). A caller never gets a build that started before it asked, so a
 * snapshot never misses an update pushed before its page connected: a caller arriving during a
 * build waits for the next one, which every caller arriving meanwhile shares.
 */
export class SharedBuild<T> {
  private current: Promise<T> | undefined
  private next: Promise<T> | undefined

  constructor(private readonly build: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.current === undefined) {
      this.current = this.build().finally(() => {
        this.current = undefined
      })
      return this.current
    }
    this.next ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.next = undefined
        return this.get()
      })
    return this.next
  }
}
