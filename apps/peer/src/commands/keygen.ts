/** `parsec-peer keygen --out FILE [--json]`: a new Ed25519 libp2p identity in a key file. */
import { resolve } from 'node:path'
import { parse, UsageError } from '../args.js'
import { generateIdentity, writeKeyFile } from '../identity-file.js'

const HELP = `usage: parsec-peer keygen --out FILE [--json]

Writes a new Ed25519 libp2p identity to FILE (mode 0600) as JSON
{"peerId": "12D3Koo...", "privateKey": "<base64 of the libp2p protobuf private key>"}
and prints its peer id. Refuses to overwrite an existing FILE.
--json prints {"peerId", "file"} instead.`

export const keygenCommand = {
  summary: 'write a new Ed25519 identity to a key file',
  async run(args: string[]): Promise<number> {
    const { values } = parse(args, {
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      console.log(HELP)
      return 0
    }
    const out = values.out
    if (typeof out !== 'string' || out === '') throw new UsageError('--out FILE is required')
    const identity = await generateIdentity()
    writeKeyFile(out, identity)
    if (values.json) console.log(JSON.stringify({ peerId: identity.peerId.toString(), file: resolve(out) }))
    else console.log(identity.peerId.toString())
    return 0
  },
}
