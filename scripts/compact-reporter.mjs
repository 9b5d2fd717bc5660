// A compact node:test reporter for CI and logs (scripts/test.mjs uses it when stdout is not a
// terminal): one line per top-level suite or test as it ends, with its file, time and test count
// (so a long run shows progress), every failure in full with the output of its file, and the totals
// at the end.
import { relative } from 'node:path'

const seconds = (ms) => `${(ms / 1000).toFixed(1).padStart(6)} s`

export default async function* compactReporter(source) {
  const started = Date.now()
  let suites = 0
  let failedSuites = 0
  const files = new Set()
  const counts = new Map() // file -> tests passed and failed (leaves) in its top-level test under way
  const output = new Map() // file -> what it printed (shown if it fails)
  const failures = []
  for await (const event of source) {
    const { type, data } = event
    const file = data?.file === undefined ? '?' : relative(process.cwd(), data.file)
    switch (type) {
      case 'test:stdout':
      case 'test:stderr': {
        const lines = output.get(file) ?? []
        if (lines.length < 200) lines.push(data.message.replace(/\n$/, ''))
        output.set(file, lines)
        break
      }
      case 'test:pass':
      case 'test:fail': {
        const leaf = data.details?.type !== 'suite'
        if (data.nesting > 0 && leaf) {
          const count = counts.get(file) ?? { pass: 0, fail: 0 }
          if (type === 'test:pass') count.pass++
          else count.fail++
          counts.set(file, count)
        }
        if (type === 'test:fail' && data.nesting > 0 && leaf) {
          const error = data.details?.error
          const cause = error?.cause ?? error
          const message = String(cause?.message ?? cause ?? 'failed')
          failures.push(
            `FAIL ${file} > ${data.name}\n${message
              .split('\n')
              .slice(0, 30)
              .map((l) => `     ${l}`)
              .join('\n')}`,
          )
          yield `\nFAIL ${file} > ${data.name} (${seconds(data.details?.duration_ms ?? 0).trim()})\n${message
            .split('\n')
            .slice(0, 30)
            .map((l) => `     ${l}`)
            .join('\n')}\n`
        }
        if (data.nesting === 0) {
          suites++
          files.add(file)
          // A top-level test with no subtests is its own leaf.
          const count =
            counts.get(file) ?? (type === 'test:pass' ? { pass: 1, fail: 0 } : { pass: 0, fail: 1 })
          counts.delete(file)
          const failed = type === 'test:fail' || count.fail > 0
          if (failed) failedSuites++
          yield `${failed ? 'FAIL' : 'ok  '} ${seconds(data.details?.duration_ms ?? 0)}  ${file} > ${data.name}  (${count.pass} passed${count.fail > 0 ? `, ${count.fail} failed` : ''})\n`
          if (failed && (output.get(file)?.length ?? 0) > 0) {
            yield `     output of ${file}:\n${output
              .get(file)
              .map((l) => `       ${l}`)
              .join('\n')}\n`
          }
        }
        break
      }
      case 'test:diagnostic':
        if (data.nesting === 0) yield `# ${data.message}\n`
        break
      default:
        break
    }
  }
  yield `\n${suites} top-level tests in ${files.size} files, ${seconds(Date.now() - started).trim()}, ${failedSuites} failed\n`
  if (failures.length > 0) yield `\nfailures:\n${failures.join('\n')}\n`
}
