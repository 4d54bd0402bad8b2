import { type Command, Option } from 'commander'
import type { Config } from '../../lib/config.ts'
import { redisKeys } from '../../lib/contract/keys.ts'
import { VigilError } from '../../lib/errors.ts'
import { ROLES, type Role, type UserRecord, sha256Hex } from '../../lib/identity/model.ts'
import { connectRedis } from '../../lib/redis.ts'
import { action, commandConfig } from '../command.ts'
import { formatTable, recordCliAudit, shortTime } from './audit.ts'
import { withRegistry } from './device.ts'

/** Everything on standard input, less one final line break (what `echo` or a password manager adds). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

/** One line typed on the terminal without echo; Ctrl-C or Ctrl-D give up. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(question)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()
  return new Promise((resolve, reject) => {
    let typed = ''
    const finish = () => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish()
          resolve(typed)
          return
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish()
          reject(new VigilError('USAGE', 'No password entered: nothing changed.'))
          return
        }
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('')
        else if (ch >= ' ') typed += ch
      }
    }
    stdin.on('data', onData)
  })
}

/**
 * The new password: from standard input with --password-stdin (scripts), else typed twice on the
 * terminal without echo. Never from a flag: a flag's value lands in the shell's history and in
 * every process listing.
 */
async function readNewPassword(fromStdin: boolean, username: string): Promise<string> {
  if (fromStdin) return readStdin()
  if (process.stdin.isTTY !== true)
    throw new VigilError('USAGE', 'Standard input is not a terminal, so the password cannot be typed: pipe it in and pass --password-stdin.')
  const first = await promptHidden(`New password for ${username}: `)
  const second = await promptHidden('The same again: ')
  if (first !== second) throw new VigilError('USAGE', 'The two passwords differ: nothing changed, run the command again.')
  return first
}

export function formatUsers(users: readonly UserRecord[]): string {
  if (users.length === 0) return 'no users: add one with `vigil user add <name> --role <role>`\n'
  return formatTable(
    ['user', 'role', 'state', 'created', 'changed'],
    users.map((u) => [u.username, u.role, u.disabled ? 'disabled' : 'active', shortTime(u.createdAt), shortTime(u.updatedAt)]),
  )
}

function userJson(u: UserRecord) {
  const { passwordHash: _secret, ...rest } = u
  return rest
}

/**
 * Clears the sign-in attempts counted against `username` (serving/routes-session.ts counts them in
 * Redis under keys.loginFailures, by the SHA-256 of the name): a guesser can lock a name out for
 * the counter's window, and this lets the user in again at once. Recorded in the audit trail
 * first: when Kafka does not acknowledge it, this throws and the counter stays. Resolves to how many
 * attempts were cleared, or undefined when none were counted (nothing recorded then).
 */
async function unlockUser(config: Config, username: string, reason: string | undefined): Promise<number | undefined> {
  const { checkReason } = await import('../../lib/identity/records.ts')
  const why = checkReason(reason)
  await withRegistry(config, async (r) => {
    if (r.user(username) === undefined) throw new VigilError('NOT_FOUND', `No user "${username}" exists: check the name with \`vigil user list\`.`)
  })
  const key = redisKeys(config.redisPrefix).loginFailures(sha256Hex(username))
  const redis = await connectRedis(config)
  try {
    const counted = await redis.get(key)
    if (counted === null) return undefined
    const attempts = Number(counted)
    await recordCliAudit(config, {
      action: 'user.unlock',
      patientId: null,
      subject: username,
      before: { signInAttempts: attempts },
      after: { signInAttempts: 0 },
      reason: why,
    })
    await redis.unlink(key)
    return attempts
  } finally {
    redis.destroy()
  }
}

const PASSWORD_STDIN = 'read the password from standard input (e.g. piped from a password manager) instead of asking for it twice'

export function register(program: Command): void {
  const user = program.command('user').description('named users of the dashboard and API, each with a role: viewer, clinician or admin (docs/SECURITY.md)')
  user
    .command('add <name>')
    .description('add a user; the password is asked for twice without echo, or read from standard input with --password-stdin')
    .addOption(new Option('--role <role>', 'what the user may do').choices(ROLES).makeOptionMandatory())
    .option('--password-stdin', PASSWORD_STDIN, false)
    .option('--reason <text>', 'why, for the audit trail')
    .action(
      action(async (name: string, opts: { role: Role; passwordStdin: boolean; reason?: string }, cmd: Command) => {
        const config = commandConfig(cmd)
        const password = await readNewPassword(opts.passwordStdin, name)
        const u = await withRegistry(config, (r, actor) => r.addUser({ username: name, role: opts.role, password }, actor, opts.reason))
        process.stdout.write(`user ${u.username} added as ${u.role}\n`)
      }),
    )
  user
    .command('list')
    .description('every user: role, active or disabled, when added and last changed')
    .option('--json', 'print the users as JSON (without password hashes)', false)
    .action(
      action(async (opts: { json: boolean }, cmd: Command) => {
        const users = await withRegistry(commandConfig(cmd), async (r) => r.users())
        process.stdout.write(opts.json ? `${JSON.stringify(users.map(userJson), null, 2)}\n` : formatUsers(users))
      }),
    )
  user
    .command('role <name> <role>')
    .description(`change a user's role (${ROLES.join(', ')}); their open sessions get the new role at once`)
    .option('--reason <text>', 'why, for the audit trail')
    .action(
      action(async (name: string, role: string, opts: { reason?: string }, cmd: Command) => {
        if (!(ROLES as readonly string[]).includes(role)) throw new VigilError('USAGE', `"${role}" is not a role: use one of ${ROLES.join(', ')}.`)
        const u = await withRegistry(commandConfig(cmd), (r, actor) => r.setRole(name, role as Role, actor, opts.reason))
        process.stdout.write(`user ${u.username} is now ${u.role}\n`)
      }),
    )
  user
    .command('passwd <name>')
    .description("set a user's password (asked for twice, or --password-stdin); their open sessions end")
    .option('--password-stdin', PASSWORD_STDIN, false)
    .action(
      action(async (name: string, opts: { passwordStdin: boolean }, cmd: Command) => {
        const config = commandConfig(cmd)
        const password = await readNewPassword(opts.passwordStdin, name)
        const u = await withRegistry(config, (r, actor) => r.setPassword(name, password, actor))
        process.stdout.write(`password of ${u.username} changed; their open sessions have ended\n`)
      }),
    )
  user
    .command('disable <name>')
    .description('stop a user signing in; their open sessions end (the user stays listed, so the audit trail keeps its meaning)')
    .option('--reason <text>', 'why, for the audit trail')
    .action(
      action(async (name: string, opts: { reason?: string }, cmd: Command) => {
        const u = await withRegistry(commandConfig(cmd), (r, actor) => r.disableUser(name, actor, opts.reason))
        process.stdout.write(`user ${u.username} disabled; their open sessions have ended\n`)
      }),
    )
  user
    .command('unlock <name>')
    .description(
      'let a user locked out by failed sign-ins (theirs or a guesser’s) sign in again at once: clears the attempts counted against the name; recorded in the audit trail',
    )
    .option('--reason <text>', 'why, for the audit trail')
    .action(
      action(async (name: string, opts: { reason?: string }, cmd: Command) => {
        const cleared = await unlockUser(commandConfig(cmd), name, opts.reason)
        process.stdout.write(
          cleared === undefined
            ? `user ${name} has no sign-in attempts counted: nothing to clear\n`
            : `${cleared} sign-in attempts counted against ${name} cleared; they may sign in again\n`,
        )
      }),
    )
}
