/**
 * `deno task demo --secure-aggregation`, small: the whole job (chain, coordinator, laptops,
 * finalize, publish) with every round securely aggregated. In process without DP; through the
 * CLI with `--dp` and a laptop that goes silent after the first round, whose round still closes
 * with the others and whose summary says so.
 */
import assert from "node:assert/strict";
import { DEFAULT_DEMO, runDemo, secureAggregationLine } from "../demo.ts";
import { SECURE_CLOSE_REASON } from "../lib/coordinator/secure_round.ts";

const SMALL = { nodes: 4, spares: 1, localSteps: 2, width: 16, layers: 1 };

Deno.test({
  name: "demo --secure-aggregation: every round is securely aggregated",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await runDemo({
      ...DEFAULT_DEMO,
      ...SMALL,
      rounds: 1,
      secureAggregation: {},
      quiet: true,
      out: undefined,
    });
    assert.equal(r.job.status, "finalized");
    assert.deepEqual(r.job.metrics.map((m) => [m.reason, m.updates]), [[SECURE_CLOSE_REASON, 4]]);
    assert.match(secureAggregationLine(r.job)!, /1 of 1 rounds securely aggregated.*: 4;/);
  },
});

Deno.test({
  name: "demo --secure-aggregation --dp --drop: the summary names the nodes in each sum",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const flags = Object.entries({ ...SMALL, rounds: 2, drop: 0.25, dp: 1, epsilon: 1000 })
      .flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "demo.ts", "--secure-aggregation", "--no-out", ...flags],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(
      stdout,
      /secure aggregation: 2 of 2 rounds securely aggregated \(SecAgg\+\), nodes included per round: 4 3; the coordinator saw only each round's sum, the DP noise was added by the laptops/,
    );
    assert.match(stdout, /privacy: epsilon/);
  },
});
