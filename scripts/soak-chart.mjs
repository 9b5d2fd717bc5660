// Draws a saved `soak-live --json` line (or a JSON file with a `samples` array) as an SVG picture
// (scripts/chart.mjs): `node scripts/soak-chart.mjs REPORT.json OUT.svg "title"` (build first).
import { readFileSync, writeFileSync } from 'node:fs'
import { soakChartSvg } from './chart.mjs'

const [input, output, title = 'soak-live'] = process.argv.slice(2)
if (input === undefined || output === undefined) {
  console.error('usage: node scripts/soak-chart.mjs REPORT.json OUT.svg [TITLE]')
  process.exit(2)
}
const report = JSON.parse(readFileSync(input, 'utf8').trim().split('\n').at(-1))
writeFileSync(output, await soakChartSvg(report.samples, title))
console.log(`${output}: ${report.samples.length} samples`)
