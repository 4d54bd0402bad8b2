import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { Supervisor, type Running, type StageStart } from './supervisor.ts'

/** A logger whose messages land in `lines`. */
function capture() {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg)
      done()
    },
  })
  return { log: pino({ level: 'info' }, sink), lines }
}

/**
 * A stage that records its stop in `stopped`: at once, or once `held` settles; `fail` makes its
 * stop throw; `stopFirst` puts it in the first wave.
 */
function stage(name: string, stopped: string[], o: { fail?: boolean; ended?: Promise<unknown>; held?: Promise<void>; stopFirst?: boolean } = {}): Running {
  return {
    name,
    ended: o.ended,
    stopFirst: o.stopFirst,
    stage: {
      async stop() {
        if (o.held !== undefined) await o.held
        stopped.push(name)
        if (o.fail === true) throw new Error(`${name} stuck`)
      },
    },
  }
}

/** A promise that settles when `release` is called: a stop held back. */
function gate(): { held: Promise<void>; release: () => void } {
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  return { held, release }
}

const starting = (r: Running): StageStart => [r.name, async () => r]

/** A promise and the function that rejects it. */
function crashable(): { ended: Promise<unknown>; crash: (e: Error) => void } {
  let crash: (e: Error) => void = () => undefined
  const ended = new Promise<unknown>((_, reject) => {
    crash = reject
  })
  return { ended, crash }
}

describe('Supervisor', () => {
  it('starts the stages in the given order and, on a signal, stops them (last started first) with exit code 0', async () => {
    const { log, lines } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    expect(await s.startInOrder(['a', 'b', 'c'].map((n) => starting(stage(n, stopped))))).toBeUndefined()
    expect(s.names()).toEqual(['a', 'b', 'c'])
    const running = s.supervise()
    expect(s.signal.aborted).toBe(false)
    void s.shutdown('SIGTERM received', 0)
    expect(s.signal.aborted).toBe(true)
    expect(await running).toBe(0)
    expect(stopped).toEqual(['c', 'b', 'a'])
    expect(lines).toContain('SIGTERM received: stopping c, b, a')
  })

  it('stops the stages at once: a slow stop does not hold the others back', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const { held, release } = gate()
    // The last started is stopped first: stopped one after another, it would hold a and b back.
    const s = new Supervisor(log, 10_000)
    await s.startInOrder([starting(stage('a', stopped)), starting(stage('b', stopped)), starting(stage('c', stopped, { held }))])
    const running = s.supervise()
    void s.shutdown('SIGTERM received', 0)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(stopped).toEqual(['b', 'a'])
    release()
    expect(await running).toBe(0)
    expect(stopped).toEqual(['b', 'a', 'c'])
  })

  it('stops the stages marked stopFirst (intake, serving) before the others, each wave at once', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const { held, release } = gate()
    const serve = stage('serve', stopped, { held, stopFirst: true })
    const ingest = stage('ingest', stopped, { stopFirst: true })
    const s = new Supervisor(log, 10_000)
    await s.startInOrder([starting(ingest), starting(stage('speed', stopped)), starting(stage('archive', stopped)), starting(serve)])
    const running = s.supervise()
    void s.shutdown('SIGTERM received', 0)
    await new Promise((resolve) => setTimeout(resolve, 20))
    // The first wave at once; the consumers wait for it.
    expect(stopped).toEqual(['ingest'])
    release()
    expect(await running).toBe(0)
    expect(stopped).toEqual(['ingest', 'serve', 'archive', 'speed'])
  })

  it('a crashed stage is reported and stops the others, exit code 1', async () => {
    const { log, lines } = capture()
    const stopped: string[] = []
    const archive = crashable()
    const s = new Supervisor(log, 10_000)
    await s.startInOrder([starting(stage('ingest', stopped)), starting(stage('archive', stopped, { ended: archive.ended }))])
    const running = s.supervise()
    archive.crash(new Error('disk full'))
    expect(await running).toBe(1)
    expect(stopped).toEqual(['archive', 'ingest'])
    expect(lines).toEqual(['archive crashed: disk full', 'archive crashed: stopping archive, ingest'])
  })

  it('a stage that ends without an error (the simulator at its count) leaves the others running', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    await s.startInOrder([starting(stage('serve', stopped)), starting(stage('edge', stopped, { ended: Promise.resolve() }))])
    const running = s.supervise()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(stopped).toEqual([])
    void s.shutdown('SIGINT received', 0)
    expect(await running).toBe(0)
  })

  it('a stage that does not stop cleanly makes the exit code 1, and the others are still stopped', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    await s.startInOrder([starting(stage('a', stopped)), starting(stage('b', stopped, { fail: true }))])
    const running = s.supervise()
    expect(await s.shutdown('SIGTERM received', 0)).toBe(1)
    expect(await running).toBe(1)
    expect(stopped).toEqual(['b', 'a'])
  })

  it('a signal while a stage starts stops the stages before it, then that stage once started; the later ones never start', async () => {
    const { log, lines } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    let requested: Promise<number> | undefined
    const slow: StageStart = [
      'speed',
      async () => {
        requested = s.shutdown('SIGTERM received', 0)
        return stage('speed', stopped)
      },
    ]
    let laterStarted = false
    const later: StageStart = [
      'serve',
      async () => {
        laterStarted = true
        return stage('serve', stopped)
      },
    ]
    expect(await s.startInOrder([starting(stage('ingest', stopped)), slow, later])).toBe(0)
    expect(await requested).toBe(0)
    expect(stopped).toEqual(['ingest', 'speed'])
    expect(laterStarted).toBe(false)
    expect(lines).toEqual(['SIGTERM received: stopping ingest'])
  })

  it('a signal before the first stage starts starts none and ends with the shutdown code', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    void s.shutdown('SIGTERM received', 0)
    expect(s.requested()).toBeDefined()
    expect(await s.startInOrder([starting(stage('ingest', stopped))])).toBe(0)
    expect(stopped).toEqual([])
    expect(s.names()).toEqual([])
  })

  it('a stage that cannot start fails with its name; only the first shutdown request counts', async () => {
    const { log } = capture()
    const stopped: string[] = []
    const s = new Supervisor(log, 10_000)
    const broken: StageStart = [
      'serve',
      async () => {
        throw new Error('port 3000 in use')
      },
    ]
    await expect(s.startInOrder([starting(stage('ingest', stopped)), broken])).rejects.toThrow('serve could not start: port 3000 in use')
    const first = s.shutdown('start failed', 1)
    expect(s.shutdown('SIGTERM received', 0)).toBe(first)
    expect(await first).toBe(1)
    expect(stopped).toEqual(['ingest'])
  })
})
