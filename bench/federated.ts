/**
 * Federated-training figures in one run:
 *
 *   deno task bench:federated            # ~75 min on 2 cores (section 2 is ~70 of it)
 *   deno task bench:federated --quick    # smaller everything, for a smoke run (~4 min)
 *   deno task bench:federated --skip 1   # only the training comparison (2)
 *   deno task bench:federated --skip 2 --nodes 10000   # a 10,000-laptop round
 *   deno task bench:federated --skip 2 --nodes 100 --secure-aggregation   # vs a plain round
 *
 * 1. One round of N laptops (1,000 by default; --nodes, --lanes) through one real coordinator
 *    (register, assign, worker tick = 1 local step + SVDB upload + on-chain commit + signed
 *    update, aggregate, finalize in batches) on an anvil devnet: wall time per phase, where each
 *    phase's time went (chain calls by method, coordinator routes, KV, store, own time), gas per
 *    transaction at the start and the end of each phase, and peak RSS of this process
 *    (./_federated_round.ts). With --secure-aggregation the same round runs twice, plain and with
 *    `secureAggregation` in the spec (--drop-share of the laptops, 10% by default, dropping after
 *    ShareKeys), and the secure one's time and bytes are printed as ratios to the plain one's.
 * 2. Federated vs centralized validation loss at equal samples on the non-IID genre split, for
 *    the bench's job and the demo's reference job, over local lr, batches, schedules, local steps
 *    and server optimizers against a tuned centralized baseline (medians over seeds), with
 *    diagnostics of the gap, then FedAvg vs FedSGD rounds to the same loss
 *    (./federated_quality.ts).
 */
import { parseArgs } from "node:util";
import { federatedRound, printRound, printSecureComparison } from "./_federated_round.ts";
import { federatedQualityReport } from "./federated_quality.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    skip: { type: "string", default: "" },
    nodes: { type: "string", default: "" },
    lanes: { type: "string", default: "16" },
    "secure-aggregation": { type: "boolean", default: false },
    "drop-share": { type: "string", default: "0.1" },
  },
});
const QUICK = args.quick;
const SKIP = new Set(args.skip.split(",").filter(Boolean));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const started = performance.now();
console.log(`bench:federated ${QUICK ? "(quick)" : ""}`);

if (!SKIP.has("1")) {
  const nodes = args.nodes ? Number(args.nodes) : QUICK ? 100 : 1000;
  const lanes = Number(args.lanes);
  console.log(`\n1. one round with ${nodes} laptops through one coordinator (${lanes} lanes)`);
  const plain = await federatedRound(nodes, lanes);
  printRound(plain);
  if (args["secure-aggregation"]) {
    const dropShare = Number(args["drop-share"]);
    console.log(`\n1b. the same round with secure aggregation (${dropShare * 100}% dropping)`);
    const secure = await federatedRound(nodes, lanes, { dropShare });
    printRound(secure);
    printSecureComparison(plain, secure);
  }
}

if (!SKIP.has("2")) {
  console.log("\n2. federated vs centralized at equal samples, and FedAvg vs FedSGD");
  await federatedQualityReport({ quick: QUICK });
}

console.log(`\ntotal ${secs(performance.now() - started)}`);
