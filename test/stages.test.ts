/**
 * The stage contract of lib/stage.ts (docs/CONTRACT.md, Code layout): every long-running stage module
 * exports `start(config, deps)` with its options under its key in the config, resolving to a
 * `Stage`. The types are checked by the type check (expectTypeOf); the source check below finds a
 * stage module without that `start`, or a start function under another name.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, expectTypeOf, it } from 'vitest'
import type * as archiver from '../batch-layer/archiver.ts'
import type { ArchiverOptions } from '../batch-layer/config.ts'
import type * as edge from '../edge/index.ts'
import type * as gateway from '../ingestion/gateway.ts'
import type { GatewayOptions } from '../ingestion/config.ts'
import type { StartStage } from '../lib/stage.ts'
import type * as serving from '../serving/index.ts'
import type * as speed from '../speed-layer/index.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const STAGE_MODULES = ['speed-layer/index.ts', 'batch-layer/archiver.ts', 'ingestion/gateway.ts', 'serving/index.ts', 'edge/index.ts']

/** What is wrong with a stage module's source, if anything: no `start(config, deps)`, or another exported start function. */
export function contractBroken(source: string): string | undefined {
  if (!/^export async function start\(config: \w+Config, deps: \w+Deps( = \{\})?\): Promise<\w+>/m.test(source)) return 'no start(config, deps)'
  const other = /^export (?:async )?function (start\w+)\(/m.exec(source)
  return other === null ? undefined : `exports ${other[1]}`
}

describe('the stage contract', () => {
  it('finds a stage module that breaks it (the checker can fail)', () => {
    expect(contractBroken('export async function start(config: XConfig, deps: XDeps): Promise<X> {')).toBeUndefined()
    expect(contractBroken('export async function startX(config: Config, options: XOptions, deps: XDeps): Promise<X> {')).toBe('no start(config, deps)')
    expect(contractBroken('export async function start(config: XConfig, deps: XDeps = {}): Promise<X> {\nexport function startY(')).toBe('exports startY')
  })

  it('holds for every long-running stage', () => {
    const broken = STAGE_MODULES.map((file) => [file, contractBroken(readFileSync(path.join(ROOT, file), 'utf8'))]).filter(([, why]) => why !== undefined)
    expect(broken).toEqual([])
    expectTypeOf<typeof speed.start>().toExtend<StartStage<'speed', speed.SpeedOptions, speed.SpeedDeps, speed.SpeedLayer>>()
    expectTypeOf<typeof archiver.start>().toExtend<StartStage<'archiver', ArchiverOptions, archiver.ArchiverDeps, archiver.Archiver>>()
    expectTypeOf<typeof gateway.start>().toExtend<StartStage<'gateway', GatewayOptions, gateway.GatewayDeps, gateway.Gateway>>()
    expectTypeOf<typeof serving.start>().toExtend<StartStage<'serving', serving.ServingOptions, serving.ServingDeps, serving.Serving>>()
    expectTypeOf<typeof edge.start>().toExtend<StartStage<'edge', edge.EdgeOptions, edge.EdgeDeps, edge.EdgeRun>>()
  })
})
