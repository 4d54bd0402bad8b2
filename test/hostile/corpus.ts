/**
 * The hostile-input corpus: a seeded generator of records that a broken or malicious device could
 * put on `vitals.readings`, each with the outcome the pipeline owes it. Generated, never stored:
 * `hostileCorpus({ seed })` gives the same bytes for the same seed.
 *
 * Every 10th record is a valid reading of one of a pool of patients (unique deviceId and seq), so
 * valid readings keep flowing between the hostile ones. The hostile kinds, each in several variants:
 *
 * | kind          | what is sent                                                    | expected                         |
 * | ------------- | --------------------------------------------------------------- | -------------------------------- |
 * | malformedJson | cut-off readings, garbage bytes, a BOM, single quotes, trailing commas | MALFORMED_JSON            |
 * | wrongType     | strings for numbers, arrays for objects, `null`, top-level scalars | SCHEMA                        |
 * | nonFinite     | NaN and Infinity literals (not JSON), 1e400 (parses to Infinity) | MALFORMED_JSON / SCHEMA         |
 * | hugeNumber    | 1e308 vitals, seq past 2^53, ts past year 275760; a denormal vital | OUT_OF_RANGE (a 30-digit SpO2 beside others: refused field) / SCHEMA / valid |
 * | implausible   | HR 400, SpO2 101 alone; beside other vitals; diastolic above systolic; probe-off 0 | OUT_OF_RANGE / refused field, rest classified / no signal |
 * | largePayload  | ~900 kB values; 2 MB compressible values sent compressed; 5 MB  | valid / SCHEMA / refused by Kafka |
 * | deepNesting   | 1 000 to 20 000 levels of arrays or objects, closed or cut off   | SCHEMA / MALFORMED_JSON         |
 * | unicodeId     | NFC and NFD spellings, emoji, zero-width, bidi override, Cyrillic lookalikes, invalid UTF-8 | SCHEMA |
 * | htmlId        | markup and entities in patientId and deviceId                    | SCHEMA                           |
 * | protoKey      | `__proto__`, `constructor` and `prototype` keys; ids named like Object members | SCHEMA / valid    |
 * | pastTs        | ts 0 and 1970s-2000s: a new patient's first reading, or older than a patient's newest | valid / late |
 * | futureTs      | ts hours to centuries ahead, and the largest ts schema v1 allows | FUTURE_TS / SCHEMA; +4 min valid |
 * | empty         | an empty value, a null value (tombstone), whitespace, `{}`       | MALFORMED_JSON / SCHEMA          |
 * | keyProblem    | a valid reading with a null, empty, foreign or bidi key          | KEY_MISMATCH                     |
 * | duplicate     | an earlier valid reading sent again                              | duplicate (counted once)         |
 *
 * Over HTTP (the gateway) the same record is a request body: what schema v1 refuses gets 400, a
 * body over the gateway's limit 413, and the rest 202 and then the speed layer's outcome for its
 * value (the gateway keys the record itself, so key problems do not exist there).
 */
import { Prng } from '../../edge/prng.ts'
import type { RejectReason } from '../../speed-layer/validate.ts'

/**
 * A record with an implausible or inconsistent field beside fields that can be used: dead-lettered
 * once with its first refused field's reason (and the `vigil-reject-fields` header) AND classified
 * on the rest (speed-layer/validate.ts, per-field validation).
 */
export type PartialOutcome = `${'OUT_OF_RANGE' | 'INCONSISTENT'} and classified`
/** What happens to a record: classified into the view, counted as duplicate or late, dead-lettered, partly refused, or refused by Kafka. */
export type Outcome = 'valid' | 'duplicate' | 'late' | 'refused' | RejectReason | PartialOutcome

export const isPartialOutcome = (o: Outcome): o is PartialOutcome => o.endsWith(' and classified')

export interface CorpusMessage {
  /** Position in the corpus, from 0; sent as the `x-corpus-id` header. */
  id: number
  kind: string
  /** Which variant of the kind, for the report. */
  variant: string
  key: Buffer | null
  value: Buffer | null
  /** Outcome when produced straight to Kafka with this key. */
  expect: Outcome
  /** Outcome of the value alone, whatever the key (what the gateway's keyed record gets). */
  valueExpect: Outcome
  /** Larger than a produce request should mix with others: send it alone. */
  big: boolean
  /** Only gets on the topic compressed (a compressible value over the broker's message limit). */
  compressed: boolean
  /** The gateway's answer when it differs from what `valueExpect` implies (a top-level array is a batch there). */
  overHttp?: { status: 202 | 400 | 413; then?: Outcome }
  /** The reading's patient and device when it is a valid (or partly refused) one, to find it in the view. */
  reading?: { patientId: string; deviceId: string; seq: number; ts: number }
  /**
   * When some of the reading's vitals are not classified: the vitals its series entry must hold
   * (the accepted ones), and the fields the dead letter names (none for a no-signal value, which
   * is neither classified nor dead-lettered).
   */
  fields?: { applied: Record<string, number>; refused: string[] }
}

export interface CorpusOptions {
  seed?: number
  /** Number of records. @defaultValue 10 000 */
  count?: number
  /** Event time the valid readings lead up to (they end 20 s before it). @defaultValue Date.now() */
  now?: number
  /** Put in front of every patient and device id, so that two corpora in one topic do not meet. @defaultValue '' */
  idPrefix?: string
  /** Patients named after Object members (`constructor`, `toString`, ...): unprefixed, so only one corpus per topic may have them. @defaultValue true */
  memberNamedPatients?: boolean
  /** Include the payloads over 100 kB (900 kB, 2 MB compressible, 5 MB). @defaultValue true */
  largePayloads?: boolean
}

/** The gateway's answer to a record sent as a request body, and the outcome after a 202. */
export function httpExpectation(m: CorpusMessage, bodyLimitBytes: number): { status: 202 | 400 | 413; then?: Outcome } {
  if ((m.value?.length ?? 0) > bodyLimitBytes) return { status: 413 }
  if (m.overHttp !== undefined) return m.overHttp
  if (m.valueExpect === 'MALFORMED_JSON' || m.valueExpect === 'SCHEMA' || m.valueExpect === 'refused') return { status: 400 }
  return { status: 202, then: m.valueExpect }
}

const POOL = 50
const KINDS = [
  'malformedJson',
  'wrongType',
  'nonFinite',
  'hugeNumber',
  'implausible',
  'deepNesting',
  'unicodeId',
  'htmlId',
  'protoKey',
  'pastTs',
  'futureTs',
  'empty',
  'keyProblem',
  'duplicate',
] as const
/** Relative frequency of each kind (deep nesting is rarer: its records are large). */
const WEIGHTS: Record<(typeof KINDS)[number], number> = {
  malformedJson: 10,
  wrongType: 10,
  nonFinite: 6,
  hugeNumber: 8,
  implausible: 8,
  deepNesting: 2,
  unicodeId: 12,
  htmlId: 6,
  protoKey: 8,
  pastTs: 6,
  futureTs: 6,
  empty: 6,
  keyProblem: 8,
  duplicate: 6,
}
const MEMBER_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf']

/** Generates the corpus; the same options give the same records. */
export function hostileCorpus(options: CorpusOptions = {}): CorpusMessage[] {
  const rng = new Prng(options.seed ?? 8)
  const count = options.count ?? 10_000
  const now = options.now ?? Date.now()
  const px = options.idPrefix ?? ''
  const largePayloads = options.largePayloads ?? true
  const memberNamed = options.memberNamedPatients ?? true
  const base = now - 20_000 - count * 10
  const out: CorpusMessage[] = []
  /** Next seq per device. */
  const seqs = new Map<string, number>()
  /** Valid readings sent so far, for duplicates. */
  const sentValid: CorpusMessage[] = []
  const totalWeight = Object.values(WEIGHTS).reduce((a, b) => a + b, 0)

  const poolPatient = (n: number) => `${px}hp-${String(n).padStart(3, '0')}`
  const poolDevice = (n: number) => `${px}hd-${String(n).padStart(3, '0')}`
  const nextSeq = (device: string) => {
    const s = seqs.get(device) ?? 1
    seqs.set(device, s + 1)
    return s
  }
  const tsOf = (id: number) => base + id * 10
  const vitals = () => ({ heartRate: rng.int(55, 110), spo2: rng.int(92, 100), respRate: rng.int(10, 22) })
  /** A reading object of a pool patient (not yet sent; seq taken). */
  const poolReading = (id: number, over: Record<string, unknown> = {}) => {
    const n = rng.int(0, POOL - 1)
    return { v: 1, patientId: poolPatient(n), deviceId: poolDevice(n), ts: tsOf(id), seq: nextSeq(poolDevice(n)), vitals: vitals(), ...over }
  }
  /** A reading of a patient of its own (its first and only reading). */
  const freshReading = (id: number, over: Record<string, unknown> = {}) => ({
    v: 1,
    patientId: `${px}hx-${id}`,
    deviceId: `${px}hxd-${id}`,
    ts: tsOf(id),
    seq: 1,
    vitals: vitals(),
    ...over,
  })

  function push(
    m: Omit<CorpusMessage, 'id' | 'big' | 'compressed' | 'valueExpect'> & Partial<Pick<CorpusMessage, 'big' | 'compressed' | 'valueExpect'>>,
  ): void {
    const msg: CorpusMessage = { big: false, compressed: false, valueExpect: m.expect, ...m, id: out.length }
    out.push(msg)
    if (msg.expect === 'valid' && msg.reading?.patientId.startsWith(`${px}hp-`) === true && (msg.value?.length ?? 0) < 10_000) sentValid.push(msg)
  }
  /** A JSON value keyed by its patientId (when it has a string one) or by a pool patient. */
  function json(kind: string, variant: string, value: string | Buffer, expect: Outcome, keyHint?: unknown): void {
    const key = typeof keyHint === 'string' && keyHint.length > 0 && keyHint.length < 200 ? keyHint : poolPatient(rng.int(0, POOL - 1))
    push({ kind, variant, key: Buffer.from(key), value: Buffer.isBuffer(value) ? value : Buffer.from(value), expect })
  }
  /** Where a reading's series entry is found in the view. */
  const readingRef = (r: { patientId: string; deviceId: string; seq: number; ts: number }) => ({
    patientId: r.patientId,
    deviceId: r.deviceId,
    seq: r.seq,
    ts: r.ts,
  })
  function validMessage(
    kind: string,
    variant: string,
    r: { v: number; patientId: string; deviceId: string; ts: number; seq: number; vitals: Record<string, number> },
    text = JSON.stringify(r),
  ): void {
    push({
      kind,
      variant,
      key: Buffer.from(r.patientId),
      value: Buffer.from(text),
      expect: 'valid',
      reading: readingRef(r),
    })
  }
  function schemaWith(kind: string, variant: string, id: number, over: Record<string, unknown>, expect: Outcome = 'SCHEMA'): void {
    const r = poolReading(id, over)
    json(kind, variant, JSON.stringify(r), expect, r.patientId)
  }

  const generators: Record<(typeof KINDS)[number], (id: number) => void> = {
    malformedJson(id) {
      const text = JSON.stringify(poolReading(id))
      const variants: Array<[string, string | Buffer]> = [
        ['truncated', text.slice(0, rng.int(1, text.length - 2))],
        ['garbage bytes', Buffer.from([0xff, ...Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255))])],
        ['byte order mark', `\ufeff${text}`],
        ['single quotes', text.replaceAll('"', "'")],
        ['trailing comma', `${text.slice(0, -2)}},}`],
        ['unquoted keys', text.replace(/"(\w+)":/g, '$1:')],
        ['two readings concatenated', text + text],
        ['comment', `/* device */${text}`],
      ]
      const [variant, value] = rng.pick(variants)
      json('malformedJson', variant, value, 'MALFORMED_JSON')
    },
    wrongType(id) {
      const r = poolReading(id)
      const variants: Array<[string, unknown]> = [
        ['v as a string', { ...r, v: '1' }],
        ['ts as an ISO string', { ...r, ts: new Date(r.ts).toISOString() }],
        ['seq as a string', { ...r, seq: String(r.seq) }],
        ['vitals as an array', { ...r, vitals: Object.values(r.vitals) }],
        ['vitals null', { ...r, vitals: null }],
        ['a vital as a string', { ...r, vitals: { ...r.vitals, heartRate: String(r.vitals.heartRate) } }],
        ['a vital as a boolean', { ...r, vitals: { spo2: true } }],
        ['patientId as a number', { ...r, patientId: 42 }],
        ['patientId as an array', { ...r, patientId: [r.patientId] }],
        ['a top-level array', [r]],
        ['a top-level string', 'reading'],
        ['a top-level number', 72],
        ['a top-level null', null],
        ['a top-level boolean', true],
      ]
      const [variant, value] = rng.pick(variants)
      json('wrongType', variant, JSON.stringify(value), 'SCHEMA', r.patientId)
      if (variant === 'a top-level array') {
        // The gateway takes a JSON array as a batch of readings: this one is valid there.
        Object.assign(out[out.length - 1]!, {
          overHttp: { status: 202, then: 'valid' },
          reading: readingRef(r),
        })
      }
    },
    nonFinite(id) {
      const r = poolReading(id)
      const text = JSON.stringify(r)
      const variants: Array<[string, string, Outcome]> = [
        ['NaN literal', text.replace(/"heartRate":\d+/, '"heartRate":NaN'), 'MALFORMED_JSON'],
        ['Infinity literal', text.replace(/"spo2":\d+/, '"spo2":Infinity'), 'MALFORMED_JSON'],
        ['-Infinity literal', text.replace(/"respRate":\d+/, '"respRate":-Infinity'), 'MALFORMED_JSON'],
        ['1e400 vital', text.replace(/"heartRate":\d+/, '"heartRate":1e400'), 'SCHEMA'],
        ['1e400 ts', text.replace(/"ts":\d+/, '"ts":1e400'), 'SCHEMA'],
        ['-1e400 seq', text.replace(/"seq":\d+/, '"seq":-1e400'), 'SCHEMA'],
      ]
      const [variant, value, expect] = rng.pick(variants)
      json('nonFinite', variant, value, expect, r.patientId)
    },
    hugeNumber(id) {
      const variants: Array<[string, () => void]> = [
        ['1e308 heart rate', () => schemaWith('hugeNumber', '1e308 heart rate', id, { vitals: { heartRate: 1e308 } }, 'OUT_OF_RANGE')],
        ['-1e308 glucose', () => schemaWith('hugeNumber', '-1e308 glucose', id, { vitals: { glucose: -1e308 } }, 'OUT_OF_RANGE')],
        [
          '30-digit spo2 beside other vitals',
          () => {
            const r = poolReading(id)
            const text = JSON.stringify(r).replace(/"spo2":\d+/, '"spo2":123456789012345678901234567890')
            push({
              kind: 'hugeNumber',
              variant: '30-digit spo2 beside other vitals',
              key: Buffer.from(r.patientId),
              value: Buffer.from(text),
              expect: 'OUT_OF_RANGE and classified',
              reading: readingRef(r),
              fields: { applied: { heartRate: r.vitals.heartRate, respRate: r.vitals.respRate }, refused: ['spo2'] },
            })
          },
        ],
        ['seq 2^53', () => schemaWith('hugeNumber', 'seq 2^53', id, { seq: 2 ** 53 })],
        ['seq 1e21', () => schemaWith('hugeNumber', 'seq 1e21', id, { seq: 1e21 })],
        ['ts 1e300', () => schemaWith('hugeNumber', 'ts 1e300', id, { ts: 1e300 })],
        ['negative seq', () => schemaWith('hugeNumber', 'negative seq', id, { seq: -1 })],
        ['denormal heart rate', () => validMessage('hugeNumber', 'denormal heart rate', freshReading(id, { vitals: { heartRate: 5e-324 } }))],
      ]
      rng.pick(variants)[1]()
    },
    implausible(id) {
      type Variant = [string, Record<string, number>, Outcome, CorpusMessage['fields']?]
      const variants: Variant[] = [
        ['heart rate 400', { heartRate: 400 }, 'OUT_OF_RANGE'],
        ['SpO2 101', { spo2: 101 }, 'OUT_OF_RANGE'],
        ['negative glucose', { glucose: -5 }, 'OUT_OF_RANGE'],
        ['temperature 80', { temperature: 80 }, 'OUT_OF_RANGE'],
        ['every field implausible', { heartRate: 400, temperature: 80 }, 'OUT_OF_RANGE'],
        // One bad field is refused on its own: the critical heart rate and SpO2 beside a fallen-off probe are classified.
        [
          'a fallen-off temperature probe beside critical vitals',
          { heartRate: 140, spo2: 82, temperature: 5 },
          'OUT_OF_RANGE and classified',
          { applied: { heartRate: 140, spo2: 82 }, refused: ['temperature'] },
        ],
        // The diastolic is refused and the systolic (the NEWS2 parameter) kept.
        ['diastolic above systolic', { systolic: 90, diastolic: 120 }, 'INCONSISTENT and classified', { applied: { systolic: 90 }, refused: ['diastolic'] }],
        // Probe off: no signal, neither classified nor dead-lettered.
        ['heart rate 0 beside an SpO2', { heartRate: 0, spo2: 97 }, 'valid', { applied: { spo2: 97 }, refused: [] }],
        ['SpO2 0 alone', { spo2: 0 }, 'valid', { applied: {}, refused: [] }],
      ]
      const [variant, v, expect, fields] = rng.pick(variants)
      if (fields === undefined) return schemaWith('implausible', variant, id, { vitals: v }, expect)
      const r = poolReading(id, { vitals: v })
      push({
        kind: 'implausible',
        variant,
        key: Buffer.from(r.patientId),
        value: Buffer.from(JSON.stringify(r)),
        expect,
        reading: readingRef(r),
        fields,
      })
    },
    deepNesting(id) {
      const depth = rng.int(1_000, 20_000)
      const r = poolReading(id)
      const head = JSON.stringify(r).slice(0, -1)
      const variants: Array<[string, string, Outcome]> = [
        ['top-level arrays', '['.repeat(depth) + ']'.repeat(depth), 'SCHEMA'],
        ['objects in an extra field', `${head},"extra":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`, 'SCHEMA'],
        ['arrays as vitals', JSON.stringify({ ...r, vitals: null }).replace('null', '['.repeat(depth) + ']'.repeat(depth)), 'SCHEMA'],
        [
          'objects as a vital',
          JSON.stringify({ ...r, vitals: { heartRate: null } }).replace('null', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
          'SCHEMA',
        ],
        ['unclosed arrays', '['.repeat(depth), 'MALFORMED_JSON'],
      ]
      const [variant, value, expect] = rng.pick(variants)
      json('deepNesting', `${variant}`, value, expect, r.patientId)
    },
    unicodeId(id) {
      const n = rng.int(0, POOL - 1)
      const p = poolPatient(n)
      const variants: Array<[string, string]> = [
        ['NFC accented letter', `${p}-Jos\u00e9`],
        ['NFD accented letter', `${p}-Jose\u0301`],
        ['emoji', `${p}-\u{1F600}`],
        ['zero-width space', `${p.slice(0, 3)}\u200b${p.slice(3)}`],
        ['zero-width joiner', `${p}\u200d`],
        ['byte order mark inside', `\ufeff${p}`],
        ['right-to-left override', `${p}\u202e1-dh`],
        ['Cyrillic lookalike', p.replace('h', '\u04bb')],
        ['fullwidth digits', `${px}hp-\uff10\uff10\uff11`],
        ['lone surrogate', `${p}\ud800`],
        ['combining marks only', '\u0301\u0301\u0301'],
      ]
      const [variant, bad] = rng.pick(variants)
      const field = rng.chance(0.7) ? 'patientId' : 'deviceId'
      const r = poolReading(id, { [field]: bad })
      json('unicodeId', `${variant} in ${field}`, JSON.stringify(r), 'SCHEMA', field === 'patientId' ? bad : r.patientId)
      if (rng.chance(0.2)) {
        // The same id as raw invalid UTF-8 bytes inside the string: decoded as U+FFFD.
        const bytes = Buffer.concat([
          Buffer.from(`{"v":1,"patientId":"${p}`),
          Buffer.from([0xc3, 0x28]),
          Buffer.from(`","deviceId":"d","ts":${tsOf(id)},"seq":1,"vitals":{"heartRate":70}}`),
        ])
        push({ kind: 'unicodeId', variant: 'invalid UTF-8 in patientId', key: Buffer.from(p), value: bytes, expect: 'SCHEMA' })
      }
    },
    htmlId(id) {
      const variants = [
        '<script>alert(1)</script>',
        '"><img src=x onerror=alert(1)>',
        'p-1<b>bold</b>',
        '&lt;b&gt;',
        "javascript:alert('x')",
        'p-1%3Cscript%3E',
        '{{7*7}}',
        '${7*7}',
      ]
      const bad = rng.pick(variants)
      const field = rng.chance(0.7) ? 'patientId' : 'deviceId'
      const r = poolReading(id, { [field]: bad })
      json('htmlId', `${bad} in ${field}`, JSON.stringify(r), 'SCHEMA', field === 'patientId' ? bad : r.patientId)
    },
    protoKey(id) {
      const r = poolReading(id)
      const head = JSON.stringify(r).slice(0, -1)
      const variants: Array<[string, () => void]> = [
        ['__proto__ at the top', () => json('protoKey', '__proto__ at the top', `${head},"__proto__":{"polluted":"yes"}}`, 'SCHEMA', r.patientId)],
        [
          '__proto__ in vitals',
          () =>
            json(
              'protoKey',
              '__proto__ in vitals',
              JSON.stringify(r).replace('"vitals":{', '"vitals":{"__proto__":{"polluted":"yes"},'),
              'SCHEMA',
              r.patientId,
            ),
        ],
        [
          'constructor.prototype at the top',
          () => json('protoKey', 'constructor.prototype at the top', `${head},"constructor":{"prototype":{"polluted":"yes"}}}`, 'SCHEMA', r.patientId),
        ],
        [
          'constructor as a vital',
          () => json('protoKey', 'constructor as a vital', JSON.stringify({ ...r, vitals: { constructor: 70 } }), 'SCHEMA', r.patientId),
        ],
        ['patientId __proto__', () => json('protoKey', 'patientId __proto__', JSON.stringify({ ...r, patientId: '__proto__' }), 'SCHEMA', '__proto__')],
        ['deviceId __proto__', () => json('protoKey', 'deviceId __proto__', JSON.stringify({ ...r, deviceId: '__proto__' }), 'SCHEMA', r.patientId)],
        [
          'deviceId named like an Object member',
          () => validMessage('protoKey', 'deviceId named like an Object member', freshReading(id, { deviceId: rng.pick(MEMBER_NAMES) })),
        ],
        [
          'patientId named like an Object member',
          () => {
            if (!memberNamed) return validMessage('protoKey', 'deviceId named like an Object member', freshReading(id, { deviceId: rng.pick(MEMBER_NAMES) }))
            const name = rng.pick(MEMBER_NAMES)
            validMessage('protoKey', 'patientId named like an Object member', {
              v: 1,
              patientId: name,
              deviceId: `${name}-dev`,
              ts: tsOf(id),
              seq: nextSeq(`${name}-dev`),
              vitals: vitals(),
            })
          },
        ],
      ]
      rng.pick(variants)[1]()
    },
    pastTs(id) {
      const ts = rng.pick([0, 1, 86_400_000, Date.UTC(1999, 11, 31, 23, 59, 59), Date.UTC(2000, 0, 1)])
      if (rng.chance(0.5)) {
        validMessage('pastTs', 'first reading of a new patient', freshReading(id, { ts }))
      } else {
        // Older than the pool patient's newest reading by far more than the out-of-order tolerance.
        const r = poolReading(id, { ts })
        push({
          kind: 'pastTs',
          variant: "older than the patient's newest",
          key: Buffer.from(r.patientId),
          value: Buffer.from(JSON.stringify(r)),
          expect: 'late',
        })
      }
    },
    futureTs(id) {
      const variants: Array<[string, number, Outcome]> = [
        ['an hour ahead', now + 3_600_000, 'FUTURE_TS'],
        ['a day ahead', now + 86_400_000, 'FUTURE_TS'],
        ['a century ahead', now + 100 * 365 * 86_400_000, 'FUTURE_TS'],
        ['the largest ts of schema v1', 8_640_000_000_000, 'FUTURE_TS'],
        ['past the largest ts of schema v1', 8_640_000_000_001, 'SCHEMA'],
      ]
      if (rng.chance(0.2)) {
        // Within the clock skew allowed (5 min): classified, on a patient of its own so it does not make later readings late.
        validMessage('futureTs', 'four minutes ahead', freshReading(id, { ts: now + 240_000 }))
        return
      }
      const [variant, ts, expect] = rng.pick(variants)
      schemaWith('futureTs', variant, id, { ts }, expect)
    },
    empty() {
      const p = Buffer.from(poolPatient(rng.int(0, POOL - 1)))
      const variants: Array<[string, Buffer | null, Buffer | null, Outcome]> = [
        ['empty value', p, Buffer.alloc(0), 'MALFORMED_JSON'],
        ['null value', p, null, 'MALFORMED_JSON'],
        ['null key and null value', null, null, 'MALFORMED_JSON'],
        ['whitespace', p, Buffer.from(' \n\t '), 'MALFORMED_JSON'],
        ['an empty object', p, Buffer.from('{}'), 'SCHEMA'],
        ['an empty string', p, Buffer.from('""'), 'SCHEMA'],
      ]
      const [variant, key, value, expect] = rng.pick(variants)
      push({ kind: 'empty', variant, key, value, expect })
    },
    keyProblem(id) {
      const r = poolReading(id)
      const value = Buffer.from(JSON.stringify(r))
      const variants: Array<[string, Buffer | null]> = [
        ['null key', null],
        ['empty key', Buffer.alloc(0)],
        ["another patient's key", Buffer.from(r.patientId === poolPatient(0) ? poolPatient(1) : poolPatient(0))],
        ['key with a bidi override', Buffer.from(`${r.patientId}\u202e`)],
        ['key in NFD', Buffer.from(`${r.patientId}e\u0301`)],
      ]
      const [variant, key] = rng.pick(variants)
      push({
        kind: 'keyProblem',
        variant,
        key,
        value,
        expect: 'KEY_MISMATCH',
        valueExpect: 'valid',
        reading: readingRef(r),
      })
      if (rng.chance(0.3))
        push({ kind: 'keyProblem', variant: 'null key on malformed JSON', key: null, value: value.subarray(0, 10), expect: 'MALFORMED_JSON' })
    },
    duplicate(id) {
      const original = sentValid.length > 0 ? rng.pick(sentValid) : undefined
      if (original === undefined) return generators.malformedJson(id)
      push({ kind: 'duplicate', variant: 'same deviceId and seq again', key: original.key, value: original.value, expect: 'duplicate' })
    },
  }

  /** The large payloads, at fixed places (each once). */
  const large: Array<(id: number) => void> = [
    (id) => {
      const r = poolReading(id)
      const pad = ' '.repeat(900_000)
      validMessage('largePayload', '900 kB of whitespace inside a valid reading', r, JSON.stringify(r).replace('"vitals"', `${pad}"vitals"`))
      out[out.length - 1]!.big = true
    },
    (id) => {
      const r = poolReading(id, { note: 'x'.repeat(900_000) })
      push({
        kind: 'largePayload',
        variant: '900 kB string in an extra field',
        key: Buffer.from(r.patientId),
        value: Buffer.from(JSON.stringify(r)),
        expect: 'SCHEMA',
        big: true,
      })
    },
    (id) => {
      const r = poolReading(id, { patientId: 'p'.repeat(900_000) })
      push({
        kind: 'largePayload',
        variant: '900 kB patientId',
        key: Buffer.from(poolPatient(0)),
        value: Buffer.from(JSON.stringify(r)),
        expect: 'SCHEMA',
        big: true,
      })
    },
    (id) => {
      const r = poolReading(id, { note: 'y'.repeat(2_000_000) })
      push({
        kind: 'largePayload',
        variant: '2 MB compressible extra field, sent compressed',
        key: Buffer.from(r.patientId),
        value: Buffer.from(JSON.stringify(r)),
        expect: 'SCHEMA',
        big: true,
        compressed: true,
      })
    },
    (id) => {
      const r = poolReading(id)
      validMessage(
        'largePayload',
        '2 MB of whitespace in a valid reading, sent compressed',
        r,
        JSON.stringify(r).replace('"vitals"', `${' '.repeat(2_000_000)}"vitals"`),
      )
      Object.assign(out[out.length - 1]!, { big: true, compressed: true })
    },
    () => {
      const bytes = Buffer.alloc(5 * 1024 * 1024)
      for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(rng.nextUint32(), i)
      bytes[0] = 0x7b
      push({
        kind: 'largePayload',
        variant: '5 MB of random bytes',
        key: Buffer.from(poolPatient(rng.int(0, POOL - 1))),
        value: bytes,
        expect: 'refused',
        valueExpect: 'MALFORMED_JSON',
        big: true,
      })
    },
  ]
  const largeAt = new Map<number, (id: number) => void>()
  if (largePayloads) {
    large.forEach((f, i) => {
      largeAt.set(Math.floor(((i + 1) * count) / (large.length + 1)) + 5, f)
    })
  }

  // Every pool patient's first reading comes first, so "older than the patient's newest" is late from the start.
  for (let n = 0; n < POOL && out.length < count; n++) {
    const r = { v: 1, patientId: poolPatient(n), deviceId: poolDevice(n), ts: tsOf(out.length), seq: nextSeq(poolDevice(n)), vitals: vitals() }
    validMessage('valid', "a pool patient's reading", r)
  }
  while (out.length < count) {
    const id = out.length
    const f = largeAt.get(id)
    if (f !== undefined) {
      largeAt.delete(id)
      f(id)
    } else if (id % 10 === 0) {
      validMessage('valid', "a pool patient's reading", poolReading(id))
    } else {
      let x = rng.next() * totalWeight
      const kind =
        KINDS.find((k) => {
          x -= WEIGHTS[k]
          return x < 0
        }) ?? 'malformedJson'
      generators[kind](id)
    }
  }
  return out.slice(0, count)
}
