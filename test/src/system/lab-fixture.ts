/**
 * A process that builds a NetnsLab of 2 hosts, starts a long-running process in each namespace (one
 * that would outlive us: it ignores stdin), prints `{"runId", "namespaces", "pids"}` and then ends
 * as `node lab-fixture.js MODE` says: `close` (closes the lab and exits 0), `throw` (an uncaught
 * exception), `exit` (process.exit(3)) or `wait` (until a signal kills it). For cleanup.system.ts.
 */
import { NetnsLab } from './netns.js'

const mode = process.argv[2]
if (!['close', 'throw', 'exit', 'wait'].includes(mode ?? '')) {
  process.stderr.write('usage: lab-fixture close|throw|exit|wait\n')
  process.exit(2)
}

const lab = NetnsLab.create({ hosts: 2, subnet: '198.51.100' })
const sleepers = lab.hosts.map((host) =>
  lab.spawn(host.index, process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' }),
)
await new Promise((resolve) => setTimeout(resolve, 100))
process.stdout.write(
  `${JSON.stringify({
    runId: lab.runId,
    namespaces: [lab.bridgeNamespace, ...lab.hosts.map((h) => h.namespace)],
    pids: sleepers.map((s) => s.pid),
  })}\n`,
)

if (mode === 'close') await lab.close()
else if (mode === 'throw') throw new Error('the fixture fails on purpose')
else if (mode === 'exit') process.exit(3)
else setInterval(() => {}, 1 << 30)
