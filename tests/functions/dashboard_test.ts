import assert from "node:assert/strict";
import { createDashboard } from "../../functions/dashboard.ts";
import { createJoin } from "../../functions/join.ts";

Deno.test("attacker: the dashboard and the join page refuse to be framed by another site", async () => {
  // A page that frames them could overlay them and steer the clicks that withdraw, export a key
  // or join and sign.
  const pages = [
    await createDashboard()(new Request("http://127.0.0.1/dashboard")),
    await createJoin()(new Request("http://127.0.0.1/join/")),
  ];
  for (const res of pages) {
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
  }
});

Deno.test("attacker: markup injected into the dashboard's origin could not run as script", async () => {
  // Found in the browser audit: the dashboard's policy allowed 'unsafe-inline' scripts on the
  // origin that keeps the browser node's key. Its policy now names its own script by hash.
  const res = await createDashboard()(new Request("http://127.0.0.1/dashboard"));
  const html = await res.text();
  const policy = res.headers.get("content-security-policy")!;
  assert.doesNotMatch(policy, /unsafe-inline/);
  const script = html.slice(
    html.indexOf(">", html.indexOf("<script")) + 1,
    html.indexOf("</script>"),
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  assert.match(policy, new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, "\\$&")}'`));
});

/** A stand-in for the few DOM calls the dashboard's script makes (table cells: written only). */
class FakeElement {
  textContent = "";
  value = "";
  dataset: Record<string, string> = {};
  attributes: Record<string, string> = {};
  children: FakeElement[] = [];
  rows: { cells: number }[] = [];
  tBodies = [this];
  setAttribute(name: string, value: string) {
    this.attributes[name] = value;
  }
  append(child: FakeElement) {
    this.children.push(child);
  }
  replaceChildren() {
    this.children = [];
    this.rows = [];
  }
  insertRow() {
    const row = { cells: 0, insertCell: () => (row.cells++, {}) };
    this.rows.push(row);
    return row;
  }
  addEventListener() {}
}

/**
 * Runs the dashboard's script against a GET /status answering `body`: its elements after one
 * refresh, or the refresh's error (what would leave the page blank).
 */
async function renderDashboard(body: unknown): Promise<Map<string, FakeElement>> {
  const html = await (await createDashboard()(new Request("http://127.0.0.1/dashboard"))).text();
  const script = html.slice(
    html.indexOf(">", html.indexOf("<script")) + 1,
    html.indexOf("</script>"),
  );
  const elements = new Map<string, FakeElement>();
  const document = {
    body: new FakeElement(),
    getElementById: (id: string) => elements.get(id) ?? elements.set(id, new FakeElement()).get(id),
    createElementNS: () => new FakeElement(),
  };
  let answer = false; // the script's own first refresh is answered 503: the test awaits the next
  const fetch = () =>
    Promise.resolve(answer ? Response.json(body) : new Response(null, { status: 503 }));
  let refresh: () => Promise<void> = () => Promise.resolve();
  const setInterval = (f: () => Promise<void>) => refresh = f;
  new Function("document", "fetch", "setInterval", script)(document, fetch, setInterval);
  answer = true;
  await refresh();
  return elements;
}

const polylines = (svg: FakeElement) =>
  svg.children.filter((c) => c.attributes.points !== undefined);

Deno.test("victim: a loss history of 100,000 rounds (a job's most) still draws the dashboard", async () => {
  // Found in the coordinator DoS audit: the chart's scale was Math.min(...all), every point of
  // every curve passed as an argument (a round is a point of the mean curve and one of the worst
  // shard's), which throws past about 125,000 and left the page showing nothing.
  const rounds = 100_000;
  const metrics = Array.from(
    { length: rounds },
    (_, round) => ({ round, valLoss: 3 - round / 1e6 }),
  );
  const job = {
    jobId: "0x1",
    status: "completed",
    round: rounds,
    rounds,
    initialValLoss: 4,
    metrics,
  };

  const page = await renderDashboard({ jobs: [job], nodes: [] });

  const [mean] = polylines(page.get("loss")!);
  assert.equal(mean!.dataset.points, String(rounds + 1));
  assert.notEqual(page.get("updated")!.textContent, "");
});

Deno.test("the dashboard draws /status's newest rounds from where they start", async () => {
  // /status sends each job's newest rounds: the initial loss joins a curve only from round 0.
  const job = (n: number, metrics: { round: number; valLoss: number }[]) => ({
    jobId: `0x${n}`,
    status: "running",
    round: (metrics.at(-1)?.round ?? -1) + 1,
    rounds: 2_000,
    initialValLoss: 4,
    metrics,
    metricCount: (metrics.at(-1)?.round ?? -1) + 1,
  });
  const recent = Array.from({ length: 20 }, (_, i) => ({ round: 980 + i, valLoss: 2 }));
  const page = await renderDashboard({
    jobs: [job(1, recent), job(2, [{ round: 0, valLoss: 3 }])],
    nodes: [],
  });

  const [late, early] = polylines(page.get("loss")!);
  assert.equal(late!.dataset.points, "20");
  assert.equal(early!.dataset.points, "2", "initial loss + round 0");
  assert.equal(page.get("rounds")!.rows.length, 21);
});
