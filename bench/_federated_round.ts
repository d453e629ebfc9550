/**
 * bench:federated section 1: one round of N simulated laptops through the real coordinator
 * (functions/router.ts over one Deno KV and one SVDB store) on an anvil devnet: each laptop
 * stakes and binds (POST /register), the job is assigned (POST /assign), each laptop runs one
 * worker tick (GET /assign, 1 local step, upload, commitRound tx, POST /aggregate/update), the
 * round closes (POST /aggregate: FedAvg, checkpoint, closeRound) and the job settles (POST
 * /finalize, in ProofOfCompute.finalizeBatch transactions). Laptops act `lanes` at a time, one
 * operator account per lane. Every chain, coordinator, KV and store call is timed
 * (./_round_profile.ts) and printed per phase.
 */
import type { Hex, TransactionReceipt } from "viem";
import { decodeFunctionData, parseEther } from "viem";
import { startDevnet } from "../lib/chain/devnet.ts";
import { createArthaClient } from "../lib/chain/client.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { abis } from "../lib/chain/contracts.ts";
import { submitTrain } from "../lib/chain/submit_train.ts";
import { generateNodeKey } from "../lib/crypto/keys.ts";
import { jobSpecHash, workTerms } from "../lib/job/job_spec.ts";
import { prepareJob } from "../lib/job/job_owner.ts";
import { openFsStore } from "../lib/store/store.ts";
import { createTrainer } from "../kernel/train_step.ts";
import { loadKernel } from "../kernel/wasm_module.ts";
import type { ModelConfig } from "../kernel/params.ts";
import { loadBrownShards } from "../kernel/data.ts";
import { type Context, DEFAULT_CONFIG } from "../lib/coordinator/context.ts";
import { checkSignatures } from "../lib/coordinator/intake.ts";
import { createRouter } from "../functions/router.ts";
import { parseEnvelope } from "../functions/update.ts";
import { Worker } from "../lib/worker/worker.ts";
import { LAPTOP, RoundProfile, routeLabel } from "./_round_profile.ts";

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Peak RSS of this process, sampled every 50 ms. */
function rssSampler() {
  let peak = Deno.memoryUsage().rss;
  const id = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 50);
  return { peak: () => Math.max(peak, Deno.memoryUsage().rss), stop: () => clearInterval(id) };
}

/** Runs `fn` over `items` in `lanes` sequential lanes (one per operator account: no nonce races). */
async function inLanes<T>(items: T[], lanes: number, fn: (x: T, i: number) => Promise<void>) {
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = lane; i < items.length; i += lanes) await fn(items[i]!, i);
  }));
}

/** Gas of the first, last and largest transaction calling one function (count: seen). */
export interface GasGrowth {
  fn: string;
  first: bigint;
  last: bigint;
  max: bigint;
  count: number;
}

export interface RoundResult {
  nodes: number;
  lanes: number;
  phases: [string, number][];
  profile: RoundProfile;
  /** Time checkSignatures took over every delivered envelope, replayed after the round. */
  signatureMs: number;
  gas: GasGrowth[];
  blockGasLimit: bigint;
  finalizeTxs: number;
  peakRss: number;
}

export const PHASES = {
  setup: "devnet, contracts, spec, job escrowed",
  register: "laptops stake on chain and bind (POST /register)",
  assign: "POST /assign (eligibility reads, assign txs, KV)",
  round: "worker ticks (GET /assign, 1 step, upload, commitRound tx, POST update)",
  aggregate: "POST /aggregate (read updates, FedAvg, checkpoint, closeRound)",
  finalize: "POST /finalize (report accuracy, finalizeBatch txs, model export)",
} as const;

/** One round of `nodes` laptops in `lanes` lanes through one coordinator. */
export async function federatedRound(nodes: number, lanes: number): Promise<RoundResult> {
  const rss = rssSampler();
  const profile = new RoundProfile();
  const phases: [string, number][] = [];
  const blocks: Record<string, [bigint, bigint]> = {};
  let mark = performance.now();
  await using net = await startDevnet({ accounts: 2 + lanes });
  const client = (i: number) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const coordinator = client(0);
  let block = await coordinator.getBlockNumber();
  const phase = async (name: keyof typeof PHASES, next: string) => {
    const now = performance.now();
    phases.push([name, now - mark]);
    console.log(`   ... ${name} done in ${secs(now - mark)}`); // a long run shows its progress
    const b = await coordinator.getBlockNumber();
    blocks[name] = [block + 1n, b];
    [mark, block, profile.phase] = [performance.now(), b, next];
  };
  const untimeRpc = profile.timeRpc(net.rpcUrl);
  const dir = await Deno.makeTempDir({ prefix: "artha-bench-fed-" });
  const store = await openFsStore(`${dir}/svdb`);
  const kv = await Deno.openKv(`${dir}/coordinator.kv`);
  try {
    const owner = client(1);
    const ops = Array.from({ length: lanes }, (_, k) => client(2 + k));
    const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
    const model: ModelConfig = { kind: "gpt", maxT: 32, layers: 1, heads: 4, width: 16 };
    const shards = loadBrownShards().map((s) => ({ ...s, train: s.train.subarray(0, 65_536) }));
    const prepared = { model, shards, rounds: 1, localSteps: 1, B: 8, T: 32 };
    const { spec, specCid } = await prepareJob(store, prepared);
    const ctx: Context = {
      kv: profile.timeKv(kv),
      store: profile.timeMethods(store, "store"),
      chain: { client: coordinator, addresses, chainId: net.chainId },
      config: DEFAULT_CONFIG,
      now: Date.now,
    };
    const route = createRouter(ctx);
    const { jobId } = await submitTrain(owner, {
      addresses,
      budget: parseEther(String(nodes)),
      terms: {
        modelCid: spec.initialWeights,
        datasetCid: spec.shards[0]!.cid,
        paramsHash: jobSpecHash(spec),
        rounds: 1,
        nodesWanted: nodes,
        redundancy: 1,
        baseRatePerSecond: parseEther("0.001"),
        targetImprovementBps: 100,
        ...workTerms(spec),
      },
    });
    const envelopes: string[] = [];
    const serve = (path: string, init?: RequestInit) => {
      const label = routeLabel(path, init?.method);
      if (label === "POST /aggregate/update") envelopes.push(String(init?.body));
      return profile.serve(label, () => route(new Request(`http://coordinator${path}`, init)));
    };
    const post = async (path: string, body: unknown) => {
      const init = {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      };
      const r = await serve(path, init);
      const b = await r.json();
      if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(b)}`);
      return b;
    };
    const trainer = createTrainer(loadKernel());
    const workers = Array.from({ length: nodes }, (_, i) =>
      new Worker({
        coordinator: serve,
        client: ops[i % lanes]!,
        addresses,
        chainId: net.chainId,
        key: generateNodeKey(),
        trainer,
        heartbeatEveryMs: Infinity,
      }));
    await phase("setup", "register");
    await inLanes(workers, lanes, (w) => profile.time("laptop register", () => w.register()));
    await phase("register", "assign");
    await post("/assign", { jobId, specCid });
    await phase("assign", "round");
    const outcomes: string[] = [];
    await inLanes(workers, lanes, async (w) => {
      const r = await profile.time("laptop tick", () => w.tick());
      if (r !== "trained") outcomes.push(r);
    });
    if (outcomes.length) {
      throw new Error(`Cannot run round: ${outcomes.length} ticks: ${outcomes[0]}`);
    }
    await phase("round", "aggregate");
    const [out] = await post("/aggregate", { jobId });
    if (out.status !== "closed") throw new Error(`round did not close: ${JSON.stringify(out)}`);
    await phase("aggregate", "finalize");
    await post("/finalize", { jobId });
    await phase("finalize", "after");
    untimeRpc();
    const t0 = performance.now();
    for (const body of envelopes) checkSignatures(ctx, parseEnvelope(JSON.parse(body)));
    const signatureMs = performance.now() - t0;
    const gas = await gasGrowth(coordinator, blocks);
    const { gasLimit } = await coordinator.getBlock();
    const finalizeTxs = gas.find((g) => g.fn === "finalizeBatch")?.count ?? 0;
    rss.stop();
    return {
      nodes,
      lanes,
      phases,
      profile,
      signatureMs,
      gas,
      blockGasLimit: gasLimit,
      finalizeTxs,
      peakRss: rss.peak(),
    };
  } finally {
    untimeRpc();
    rss.stop();
    kv.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Gas of the first, last and largest transaction of each function over the phases' blocks. */
async function gasGrowth(
  client: ReturnType<typeof createArthaClient>,
  blocks: Record<string, [bigint, bigint]>,
): Promise<GasGrowth[]> {
  const byFn = new Map<string, GasGrowth>();
  const allAbis = Object.values(abis);
  for (const [name, [from, to]] of Object.entries(blocks)) {
    // The per-laptop phases are sampled (their first and last blocks): the growth shows there.
    const sampled = name === "register" || name === "round";
    for (let b = from; b <= to; b++) {
      if (sampled && b > from + 4n && b < to - 4n) b = to - 4n;
      const blk = await client.getBlock({ blockNumber: b, includeTransactions: true });
      for (const tx of blk.transactions) {
        const fn = fnName(allAbis, tx.input);
        const r: TransactionReceipt = await client.getTransactionReceipt({ hash: tx.hash });
        const g = byFn.get(fn) ?? { fn, first: r.gasUsed, last: 0n, max: 0n, count: 0 };
        g.last = r.gasUsed;
        g.max = g.max > r.gasUsed ? g.max : r.gasUsed;
        g.count++;
        byFn.set(fn, g);
      }
    }
  }
  return [...byFn.values()];
}

function fnName(all: readonly unknown[], input: Hex): string {
  for (const abi of all) {
    try {
      // deno-lint-ignore no-explicit-any
      return decodeFunctionData({ abi: abi as any, data: input }).functionName;
    } catch { /* another contract's */ }
  }
  return input.slice(0, 10);
}

/** Prints the phases and, under each, where its time went. */
export function printRound(r: RoundResult): void {
  const { profile } = r;
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(9);
  for (const [name, ms] of r.phases) {
    console.log(`   ${secs(ms).padStart(8)}  ${name}: ${PHASES[name as keyof typeof PHASES]}`);
    for (const [where, what, t] of profile.rows(name).slice(0, 12)) {
      if (t.ms < 0.005 * ms) continue;
      const mean = t.ms / t.n;
      console.log(
        `      ${fmt(t.ms)}  ${where === LAPTOP ? "laptop" : `  in ${where}`}: ${what}` +
          `  (${t.n} x ${mean < 10 ? mean.toFixed(2) : mean.toFixed(0)} ms)`,
      );
    }
  }
  const n = r.nodes;
  const p = (phase: string, where: string | RegExp, what: string | RegExp) =>
    profile.sum(
      phase,
      (w, x) =>
        (typeof where === "string" ? w === where : where.test(w)) &&
        (typeof what === "string" ? x === what : what.test(x)),
    );
  const ticks = p("round", LAPTOP, "laptop tick");
  const tickHttp = p("round", LAPTOP, /^http /);
  const tickRpc = p("round", LAPTOP, /^rpc/);
  const update = "POST /aggregate/update";
  const updateTotal = p("round", LAPTOP, `http ${update}`);
  const kvAll = r.phases.reduce((s, [ph]) => s + p(ph, /./, /^kv /), 0);
  const per = (ms: number) => `${(ms / n).toFixed(1)} ms/laptop`;
  console.log(`   breakdown (busy time summed over ${r.lanes} lanes; per laptop in brackets):`);
  const rows: [string, number][] = [
    ["registration: stake tx (laptop JSON-RPC)", p("register", LAPTOP, /^rpc/)],
    [
      "registration: POST /register (binding check, chain reads, KV)",
      p("register", LAPTOP, /^http /),
    ],
    ["assignment: POST /assign", p("assign", LAPTOP, /^http /)],
    ["local step (tick minus its coordinator and chain calls)", ticks - tickHttp - tickRpc],
    ["task: GET /assign", p("round", LAPTOP, /^http GET \/assign/)],
    ["upload: POST /svdb", p("round", LAPTOP, /^http POST \/svdb/)],
    ["commit tx: commitRound (laptop JSON-RPC)", tickRpc],
    ["update POST: total", updateTotal],
    ["  of which chain reads (isResultCommitted)", p("round", update, /^rpc/)],
    ["  of which KV", p("round", update, /^kv /)],
    ["  of which SVDB store", p("round", update, /^store /)],
    ["  of which signature + proof checks (replayed alone after the round)", r.signatureMs],
    ["KV, every phase", kvAll],
    ["POST /aggregate: reading updates (store)", p("aggregate", /./, /^store get/)],
    ["POST /aggregate: closeRound tx", p("aggregate", /./, /^rpc/)],
    [
      "POST /aggregate: FedAvg, checkpoint, eval (own time)",
      p("aggregate", LAPTOP, /^http /) -
      p("aggregate", /POST/, /^(rpc|kv|store)/),
    ],
    ["POST /finalize: total", p("finalize", LAPTOP, /^http /)],
    ["  of which finalize txs (JSON-RPC)", p("finalize", /./, /^rpc/)],
  ];
  for (const [label, ms] of rows) console.log(`      ${fmt(ms)}  ${label}  (${per(ms)})`);
  const round = r.phases.filter(([ph]) => ph !== "setup").reduce((s, [, ms]) => s + ms, 0);
  console.log(
    `   register -> finalize: ${secs(round)}; round alone (assign -> aggregate): ${
      secs(
        r.phases.filter(([ph]) => ["assign", "round", "aggregate"].includes(ph))
          .reduce((s, [, ms]) => s + ms, 0),
      )
    }`,
  );
  console.log(`   peak RSS of this process: ${mib(r.peakRss)} (anvil not included)`);
  console.log(
    `   gas per transaction (first / last / largest; block gas limit ${r.blockGasLimit}):`,
  );
  for (const g of r.gas) {
    console.log(`      ${g.fn.padEnd(16)} x${g.count}: ${g.first} / ${g.last} / ${g.max}`);
  }
}
