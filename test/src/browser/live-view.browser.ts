/**
 * The live view in a real browser (Chromium, headless, driven by puppeteer-core): a section of 4
 * peer processes on 127.0.0.1, the first peer's page opened with the API token in its fragment.
 * The page loads with no console error, lists the 4 members, shows a block voted after it loaded,
 * and draws the recent gossip graph. Run by scripts/test-browser.mjs (`.ci/run` installs Debian's
 * chromium first); not part of the README's test command, which needs nothing but Node.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LocalSection } from 'parsec-peer/local-section'
import puppeteer from 'puppeteer-core'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const PAYLOAD = 'voted-while-the-page-was-open'

describe('the live view in a real browser', { timeout: 240_000 }, () => {
  it('loads with no console error, lists the 4 members, shows a new block after a vote, draws the graph', async () => {
    const section = await LocalSection.create({ peers: 4 })
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root in CI, Chromium's sandbox cannot start.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    })
    try {
      await section.startAll()
      await section.waitConnected(60_000)
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text())
      })
      page.on('pageerror', (error) => errors.push(String(error)))
      const token = readFileSync(join(section.dir, 'api-token'), 'utf8').trim()
      await page.goto(`http://${section.peers[0].api!.address}/#token=${token}`)
      // Expressions evaluated in the page (this file is compiled without the DOM's types).
      await page.waitForFunction('document.querySelectorAll("#members tbody tr").length === 4', {
        timeout: 60_000,
      })
      await section.peers[1].api!.vote([new TextEncoder().encode(PAYLOAD)])
      await page.waitForFunction(
        `[...document.querySelectorAll('#blocks tbody td')].some((td) => td.textContent === ${JSON.stringify(PAYLOAD)})`,
        { timeout: 60_000 },
      )
      await page.waitForSelector('#graph img', { timeout: 30_000 })
      const health = await page.evaluate('document.getElementById("health").textContent')
      assert.equal(health, 'healthy')
      assert.deepEqual(errors, [])
    } finally {
      await browser.close()
      await section.close()
    }
  })
})
