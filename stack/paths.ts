/** Where the native stack keeps its files: `.stack/` at the project root (gitignored). */
import { fileURLToPath } from 'node:url'
import path from 'node:path'

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url))
export const STACK_SOURCES = path.join(PROJECT_ROOT, 'stack')
export const STACK_DIR = path.join(PROJECT_ROOT, '.stack')

export const KAFKA_DIR = path.join(STACK_DIR, 'kafka')
export const KAFKA_LIBS = path.join(KAFKA_DIR, 'libs')
export const KAFKA_LIBS_STAMP = path.join(KAFKA_DIR, 'libs.stamp')
export const KAFKA_DATA = path.join(KAFKA_DIR, 'data')
export const KAFKA_PROPS = path.join(KAFKA_DIR, 'server.properties')
export const KAFKA_LOG = path.join(KAFKA_DIR, 'kafka.log')
export const KAFKA_PID = path.join(KAFKA_DIR, 'kafka.pid')

export const REDIS_DIR = path.join(STACK_DIR, 'redis')
export const REDIS_LOG = path.join(REDIS_DIR, 'redis.log')
export const REDIS_PID = path.join(REDIS_DIR, 'redis.pid')

/** Marker: `vigil stack up` started the services with docker compose. */
export const DOCKER_MARKER = path.join(STACK_DIR, 'docker-compose.started')

/** Every path of one stack state folder; `dir` other than STACK_DIR runs a second, separate stack (the chaos suite's). */
export interface StackPaths {
  stackDir: string
  kafkaDir: string
  /** The broker's jars: always the cached ones under `.stack/kafka/libs`, whatever the state folder. */
  kafkaLibs: string
  kafkaLibsStamp: string
  kafkaData: string
  kafkaProps: string
  kafkaLog: string
  kafkaPid: string
  redisDir: string
  redisLog: string
  redisPid: string
  dockerMarker: string
}

export function stackPaths(dir: string = STACK_DIR): StackPaths {
  const kafkaDir = path.join(dir, 'kafka')
  const redisDir = path.join(dir, 'redis')
  return {
    stackDir: dir,
    kafkaDir,
    kafkaLibs: KAFKA_LIBS,
    kafkaLibsStamp: KAFKA_LIBS_STAMP,
    kafkaData: path.join(kafkaDir, 'data'),
    kafkaProps: path.join(kafkaDir, 'server.properties'),
    kafkaLog: path.join(kafkaDir, 'kafka.log'),
    kafkaPid: path.join(kafkaDir, 'kafka.pid'),
    redisDir,
    redisLog: path.join(redisDir, 'redis.log'),
    redisPid: path.join(redisDir, 'redis.pid'),
    dockerMarker: path.join(dir, 'docker-compose.started'),
  }
}
