/**
 * Run inside a network namespace: `node api-relay.js SOCKET PORT` relays every connection made to
 * the Unix socket SOCKET to 127.0.0.1:PORT of that namespace (a peer's control API, which listens on
 * the namespace's own loopback). A file path is reachable from every namespace, so the test process
 * outside talks HTTP over the socket. Prints `ready` once listening; exits when stdin closes.
 */
import { connect, createServer } from 'node:net'

const [socketPath, port] = process.argv.slice(2)
if (socketPath === undefined || !/^\d+$/.test(port ?? '')) {
  process.stderr.write('usage: api-relay SOCKET PORT\n')
  process.exit(2)
}

const server = createServer((client) => {
  const upstream = connect(Number(port), '127.0.0.1')
  client.pipe(upstream).pipe(client)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
})
server.listen(socketPath, () => process.stdout.write('ready\n'))
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
