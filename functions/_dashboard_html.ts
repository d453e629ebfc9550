/** The dashboard page (one self-contained HTML document; no build step, no CDN). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ArthaTrain coordinator</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1100px; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
  code { font-size: 12px; } .muted { color: #777; }
  #loss { border: 1px solid #ddd; background: #fafafa; }
  textarea { width: 100%; height: 4rem; font: 13px monospace; }
  #output { white-space: pre-wrap; font: 13px monospace; background: #f4f4f4; padding: .5rem;
    min-height: 2rem; }
</style>
</head>
<body>
<h1>ArthaTrain coordinator</h1>
<p class="muted">Updated <span id="updated">never</span> from <code>GET /status</code>.</p>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>status</th><th>round</th><th>val loss</th>
<th>worst genre</th><th>rewards paid (wei)</th><th>model</th></tr></thead><tbody></tbody></table>
<h2>Validation loss</h2>
<p class="muted">Solid: mean over genres (every data owner counts the same); dashed: worst genre.</p>
<svg id="loss" width="640" height="200" viewBox="0 0 640 200" role="img"
  aria-label="validation loss per round"></svg>
<h2>Rounds</h2>
<p class="muted">Each job's newest rounds (every round: <code>GET /status?job=</code>).</p>
<table id="rounds"><thead><tr><th>job</th><th>round</th><th>updates</th><th>val loss</th>
<th>± s.e.</th><th>worst genre</th><th>closed because</th><th>checkpoint</th></tr></thead><tbody></tbody></table>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>operator</th><th>region</th><th>stake (wei)</th>
<th>last seen</th></tr></thead><tbody></tbody></table>
<h2>Inference</h2>
<form id="infer">
  <label>Model CID <input id="model" size="64" required></label>
  <label>max tokens <input id="maxTokens" type="number" value="48" min="1" max="1024"></label>
  <label>temperature <input id="temperature" type="number" value="0.8" step="0.1" min="0"></label>
  <textarea id="prompt" required>The jury said</textarea>
  <button id="run" type="submit">Generate</button> <span id="meta" class="muted"></span>
</form>
<div id="output"></div>
<script type="module">
const $ = (id) => document.getElementById(id);
const short = (s) => s ? String(s).slice(0, 10) + "…" : "";
// A diverged round's loss is NaN, null in JSON: found in the browser audit, null.toFixed threw
// on every refresh and one such job hid every job and node from every visitor.
const fixed = (v, digits) => Number.isFinite(v) ? v.toFixed(digits) : "—";
// The worst shard's (data owner's) loss of a round; old records have the mean only.
const worst = (m) => m.shardLoss?.length ? Math.max(...m.shardLoss) : m.valLoss;
const worstBefore = (j) => j.initialShardLoss?.length ? Math.max(...j.initialShardLoss) : j.initialValLoss;
function cell(row, text, title) {
  const td = row.insertCell();
  td.textContent = text;
  if (title) td.title = title;
}
// A job's curve as [rounds closed, loss] points (0: the initial weights). /status sends each job's
// newest rounds only: the initial point belongs to the curve only when they start at round 0.
function curve(j, loss, before) {
  const points = j.metrics.map((m) => [m.round + 1, loss(m)]);
  return (j.metrics[0]?.round ?? 0) === 0 ? [[0, before(j)], ...points] : points;
}
function drawLoss(jobs) {
  const svg = $("loss");
  const series = jobs.map((j) => curve(j, (m) => m.valLoss, (j) => j.initialValLoss));
  const worstSeries = jobs.map((j) => curve(j, worst, worstBefore));
  // Bounds in a loop: Math.min(...all) passed every point as an argument and threw past a few
  // hundred thousand, leaving the page blank (found in the coordinator DoS audit).
  let lo = Infinity, hi = -Infinity, first = Infinity, end = -Infinity, last;
  for (const s of [...series, ...worstSeries]) {
    for (const [i, v] of s) {
      if (!Number.isFinite(v)) continue;
      lo = Math.min(lo, v); hi = Math.max(hi, v); last = v;
      first = Math.min(first, i); end = Math.max(end, i);
    }
  }
  svg.replaceChildren();
  if (last === undefined) return;
  const x = (i) => 30 + (600 * (i - first)) / Math.max(1, end - first);
  const y = (v) => 180 - (160 * (v - lo)) / Math.max(1e-9, hi - lo);
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  const draw = (s, k, dashed) => {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", s.map(([i, v]) => x(i) + "," + y(v)).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colors[k % colors.length]);
    line.setAttribute("stroke-width", dashed ? "1.5" : "2");
    // data-points marks the mean series only (what tests/e2e/dashboard_test.ts waits on).
    if (dashed) line.setAttribute("stroke-dasharray", "5 3");
    line.dataset[dashed ? "worstPoints" : "points"] = String(s.length);
    svg.append(line);
  };
  series.forEach((s, k) => draw(s, k, false));
  worstSeries.forEach((s, k) => draw(s, k, true));
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "32"); label.setAttribute("y", "14");
  label.textContent = fixed(hi, 3) + " → " + fixed(last, 3) + " nats/byte";
  svg.append(label);
}
async function refresh() {
  const res = await fetch("/status");
  if (!res.ok) return;
  const { jobs, nodes } = await res.json();
  const jb = $("jobs").tBodies[0], rb = $("rounds").tBodies[0], nb = $("nodes").tBodies[0];
  jb.replaceChildren(); rb.replaceChildren(); nb.replaceChildren();
  for (const j of jobs) {
    const r = jb.insertRow();
    cell(r, short(j.jobId), j.jobId); cell(r, j.status);
    cell(r, j.round + " / " + j.rounds);
    cell(r, fixed(j.metrics.at(-1)?.valLoss ?? j.initialValLoss, 4));
    cell(r, fixed(j.metrics.length ? worst(j.metrics.at(-1)) : worstBefore(j), 4));
    cell(r, j.finalize?.paid ?? "");
    cell(r, short(j.modelFolderCid), j.modelFolderCid);
    if (j.modelFolderCid && !$("model").value) $("model").value = j.modelFolderCid;
    for (const m of j.metrics) {
      const q = rb.insertRow();
      cell(q, short(j.jobId), j.jobId); cell(q, m.round); cell(q, m.updates);
      cell(q, fixed(m.valLoss, 4)); cell(q, fixed(m.valStdErr ?? 0, 4));
      cell(q, fixed(worst(m), 4)); cell(q, m.reason); cell(q, short(m.checkpointCid), m.checkpointCid);
    }
  }
  for (const n of nodes) {
    const r = nb.insertRow();
    cell(r, short(n.nodePubkey), n.nodePubkey); cell(r, short(n.operator), n.operator);
    cell(r, n.region); cell(r, n.stake); cell(r, new Date(n.lastSeen).toISOString());
  }
  drawLoss(jobs);
  $("updated").textContent = new Date().toLocaleTimeString();
}
$("infer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("output").textContent = ""; $("meta").textContent = "…";
  const res = await fetch("/ai/infer", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({
      modelCid: $("model").value.trim(), input: $("prompt").value,
      maxTokens: Number($("maxTokens").value), temperature: Number($("temperature").value),
      topK: 40, seed: 1, stream: true,
    }),
  });
  if (!res.ok) { $("meta").textContent = "error: " + (await res.json()).error.message; return; }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\\n\\n")) >= 0) {
      const frame = buf.slice(0, i); buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? "message";
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? "{}");
      if (event === "message") $("output").textContent += data.text;
      if (event === "done") {
        $("meta").textContent = data.generatedTokens + " tokens, " + data.backend + "/" + data.device;
        document.body.dataset.inferDone = "1";
      }
      if (event === "error") $("meta").textContent = "error: " + data.error.message;
    }
  }
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
