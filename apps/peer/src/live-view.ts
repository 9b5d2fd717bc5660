/**
 * The live view of a peer: `GET /` on the control API serves this page and `GET /live.js` its
 * script; both are static (no data, so no token is needed for them). The script reads the API
 * like any client: `/status` (with the health of `/health`) and `/metrics` every 2 s, `/blocks` by long-poll, and
 * `/graph?format=svg&last=60` every 5 s. With a token, open the page as `http://HOST:PORT/#token=T`
 * (a fragment never reaches the server) or paste it in the page; it stays in sessionStorage.
 */

/** The content security policy of both: scripts and connections to this origin only. */
export const LIVE_VIEW_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' blob:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export const LIVE_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>parsec-section peer</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
  code, td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
  table { border-collapse: collapse; } td, th { padding: .15em .8em .15em 0; text-align: left; }
  .ok { color: #087f23; } .bad { color: #b00020; } .muted { color: #777; }
  #grid { display: grid; grid-template-columns: minmax(20em, 1fr) minmax(20em, 1fr); gap: 0 2em; }
  #graph img { max-width: 100%; border: 1px solid #ddd; }
  #token-form { display: none; margin: 1em 0; }
</style>
</head>
<body>
<h1>parsec-section peer <code id="peer">…</code></h1>
<div>section <code id="section">…</code> · <span id="self">…</span> · <span id="health">…</span></div>
<form id="token-form"><label>API token <input id="token" type="password" autocomplete="off"></label>
<button>use</button></form>
<div id="grid">
<div>
<h2>Members <span id="member-count" class="muted"></span></h2>
<table id="members"><thead><tr><th>peer</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Rates</h2>
<table id="rates"><tbody></tbody></table>
<h2>Faults</h2>
<div id="faults">…</div>
</div>
<div>
<h2>Blocks <span id="block-count" class="muted"></span></h2>
<table id="blocks"><thead><tr><th>#</th><th>kind</th><th>content</th><th>votes</th></tr></thead><tbody></tbody></table>
</div>
</div>
<h2>Recent gossip graph <span class="muted">(last 60 events)</span></h2>
<div id="graph"><span class="muted">…</span></div>
<script src="/live.js"></script>
</body>
</html>
`

export const LIVE_VIEW_SCRIPT = `'use strict'
const $ = (id) => document.getElementById(id)
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
if (fromHash) { sessionStorage.setItem('parsec-token', fromHash); history.replaceState(null, '', location.pathname) }
let token = sessionStorage.getItem('parsec-token') || ''
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('parsec-token', token)
  $('token-form').style.display = 'none'
})

async function api(path) {
  const response = await fetch(path, { headers: token ? { authorization: 'Bearer ' + token } : {} })
  if (response.status === 401) { $('token-form').style.display = 'block'; throw new Error('token needed') }
  return response
}
const text = (el, value) => { el.textContent = value }
function row(cells) {
  const tr = document.createElement('tr')
  for (const [value, cls] of cells) { const td = document.createElement('td'); td.textContent = value; if (cls) td.className = cls; tr.append(td) }
  return tr
}

let lastMetrics
const RATES = [['parsec_section_blocks_total', 'blocks/s'], ['parsec_section_events_created_total', 'events created/s'],
  ['parsec_section_events_received_total', 'events received/s'], ['parsec_section_exchanges_total', 'exchanges/s'],
  ['parsec_section_verifications_total', 'verifications/s']]
function parseMetrics(body) {
  const values = {}
  for (const line of body.split('\\n')) {
    const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line)
    if (m) values[m[1]] = Number(m[2])
  }
  return values
}

async function refresh() {
  try {
    const status = await (await api('/status')).json()
    text($('peer'), status.peerId); text($('section'), status.sectionId); text($('self'), status.self)
    // From /status: /health answers 503 when unhealthy, which a browser logs as an error.
    const health = status.health
    text($('health'), health.healthy ? 'healthy' : 'unhealthy: ' + health.message)
    $('health').className = health.healthy ? 'ok' : 'bad'
    text($('member-count'), '(' + status.members.length + ')')
    const body = $('members').tBodies[0]; body.replaceChildren()
    for (const peer of status.members) {
      const state = peer === status.peerId ? 'us (' + status.self + ')'
        : status.suspected.includes(peer) ? 'suspected' : status.connected.includes(peer) ? 'connected' : 'not connected'
      body.append(row([[peer, 'mono'], [state, state === 'connected' || state.startsWith('us') ? 'ok' : 'bad']]))
    }
    for (const peer of status.candidates) body.append(row([[peer, 'mono'], ['candidate', 'muted']]))
    text($('faults'), status.faults + ' faults, ' + status.linkErrors + ' link errors' +
      (status.banned.length ? ', banned: ' + status.banned.join(', ') : ''))
    const metrics = await api('/metrics')
    if (metrics.ok) {
      const now = { at: Date.now(), values: parseMetrics(await metrics.text()) }
      const rates = $('rates').tBodies[0]; rates.replaceChildren()
      for (const [name, label] of RATES) {
        const rate = lastMetrics ? (now.values[name] - lastMetrics.values[name]) / ((now.at - lastMetrics.at) / 1000) : NaN
        rates.append(row([[label], [Number.isFinite(rate) ? rate.toFixed(1) : '…', 'mono']]))
      }
      lastMetrics = now
    }
  } catch (error) { text($('health'), String(error.message || error)); $('health').className = 'bad' }
}

let next = 0
const shown = []
async function followBlocks() {
  for (;;) {
    try {
      const answer = await (await api('/blocks?from=' + next + '&limit=100&wait=10000')).json()
      for (const block of answer.blocks) {
        const content = block.kind === 'opaque' ? (block.text ?? '0x' + block.payload.slice(0, 16))
          : block.kind === 'genesis' ? block.peers.length + ' founders' : (block.peer ?? block.offender ?? '')
        shown.unshift(row([[block.position], [block.kind], [content, 'mono'], [block.voters.length]]))
      }
      next = answer.next
      shown.length = Math.min(shown.length, 25)
      $('blocks').tBodies[0].replaceChildren(...shown)
      text($('block-count'), '(' + next + ' delivered)')
    } catch (error) { await new Promise((resolve) => setTimeout(resolve, 2000)) }
  }
}

let graphUrl
async function refreshGraph() {
  try {
    const response = await api('/graph?format=svg&last=60')
    if (!response.ok) return
    const url = URL.createObjectURL(new Blob([await response.text()], { type: 'image/svg+xml' }))
    const img = document.createElement('img'); img.src = url; img.alt = 'the last 60 events of the gossip graph'
    $('graph').replaceChildren(img)
    if (graphUrl) URL.revokeObjectURL(graphUrl)
    graphUrl = url
  } catch {}
}

refresh(); setInterval(refresh, 2000)
refreshGraph(); setInterval(refreshGraph, 5000)
followBlocks()
`
