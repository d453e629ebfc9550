/**
 * bench:federated section 1: one round of N simulated laptops through the real coordinator
 * (functions/router.ts over one Deno KV and one SVDB store) on an anvil devnet: each laptop
 * stakes and binds (POST /register), the job is assigned (POST /assign), each laptop runs one
 * worker tick (GET /assign, 1 local step, upload, commitRound tx, POST /aggregate/update), the
 * round closes (POST /aggregate: FedAvg, checkpoint, closeRound) and the job settles (POST
 * /finalize, in ProofOfCompute.finalizeBatch transactions). Laptops act `lanes` at a time, one
 * operator account per lane. Every chain, coordinator, KV and store call is timed
 * (./_round_profile.ts) and printed per phase, with the bytes every laptop sent and received.
 *
 * With `secure` the spec has `secureAggregation`: the ticks train, commit and post the envelope as
 * before, then every laptop runs its side of SecAgg+ at once (the `secure` phase; a session needs
 * all of them live together), a share of them (`dropShare`) dropping right after ShareKeys; the
 * coordinator's clock jumps a stage deadline when a stage waits only for dropped laptops.
 */
import { accountUploadSigner, signJson, uploadDomain } from "../lib/store/upload_signature.ts";
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
import type { TrainTask } from "../lib/worker/task.ts";
import type { JobSpec } from "../lib/job/job_spec.ts";
import type { SecureOutcome } from "../lib/worker/secure_aggregation.ts";
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
  /** Bytes laptops sent to / received from the coordinator (SVDB included), per phase. */
  bytes: Record<string, { up: number; down: number; requests: number }>;
  /** Secure rounds: laptops that dropped after ShareKeys, and how many the sum included. */
  secure?: { dropped: number; included: number };
}

/** The secure bench's stage deadline (an hour): only the bench's own jumps pass it. */
const STAGE_MS = 3_600_000;

/** A secure round's options: the share of laptops that drop after ShareKeys. */
export interface SecureRoundOptions {
  dropShare: number;
}

/** A worker whose SecAgg+ run is kept for later, so every laptop can run it at once. */
class DeferredSecureWorker extends Worker {
  secureRun?: () => Promise<SecureOutcome>;
  protected override secureAggregate(task: TrainTask, spec: JobSpec, delta: Float32Array) {
    this.secureRun = () => super.secureAggregate(task, spec, delta);
    return Promise.resolve("included" as const);
  }
}

/** Byte length of a request or response body. */
async function bodyBytes(body: BodyInit | null | undefined | Response): Promise<number> {
  if (body instanceof Response) return (await body.clone().arrayBuffer()).byteLength;
  if (typeof body === "string") return new TextEncoder().encode(body).byteLength;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return body.byteLength;
  if (body instanceof Blob) return body.size;
  return 0;
}

export const PHASES = {
  setup: "devnet, contracts, spec, job escrowed",
  register: "laptops stake on chain and bind (POST /register)",
  assign: "POST /assign (eligibility reads, assign txs, KV)",
  round: "worker ticks (GET /assign, 1 step, upload, commitRound tx, POST update)",
  secure: "SecAgg+ session: every laptop at once, some dropping after ShareKeys",
  aggregate: "POST /aggregate (read updates, FedAvg, checkpoint, closeRound)",
  finalize: "POST /finalize (report accuracy, finalizeBatch txs, model export)",
} as const;

/** One round of `nodes` laptops in `lanes` lanes through one coordinator. */
export async function federatedRound(
  nodes: number,
  lanes: number,
  secure?: SecureRoundOptions,
): Promise<RoundResult> {
  const rss = rssSampler();
  const profile = new RoundProfile();
  const phases: [string, number][] = [];
  const blocks: Record<string, [bigint, bigint]> = {};
  let mark = performance.now();
  const bytes: RoundResult["bytes"] = {};
  let skew = 0;
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
    const prepared = {
      model,
      shards,
      rounds: 1,
      localSteps: 1,
      B: 8,
      T: 32,
      // Every laptop shares this process's 2 cores, so a stage can take longer than the default
      // 60 s: the bench moves the clock past a deadline itself, when only dropped laptops are left.
      ...(secure ? { secureAggregation: { stageMs: STAGE_MS }, nodes } : {}),
    };
    const { spec, specCid } = await prepareJob(store, prepared);
    const ctx: Context = {
      kv: profile.timeKv(kv),
      store: profile.timeMethods(store, "store"),
      chain: { client: coordinator, addresses, chainId: net.chainId },
      config: DEFAULT_CONFIG,
      now: () => Date.now() + skew, // jumps a stage deadline when only dropped laptops are left
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
    const serve = async (path: string, init?: RequestInit) => {
      const label = routeLabel(path, init?.method);
      if (label === "POST /aggregate/update") envelopes.push(String(init?.body));
      const res = await profile.serve(
        label,
        () => route(new Request(`http://coordinator${path}`, init)),
      );
      const b = bytes[profile.phase] ??= { up: 0, down: 0, requests: 0 };
      b.requests++;
      b.up += path.length + await bodyBytes(init?.body);
      b.down += await bodyBytes(res);
      return res;
    };
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
      const init = {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      };
      const r = await serve(path, init);
      const b = await r.json();
      if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(b)}`);
      return b;
    };
    const trainer = createTrainer(loadKernel());
    // Secure rounds: the first dropShare of the laptops close their lids after ShareKeys.
    const dropping = Math.round(nodes * (secure?.dropShare ?? 0));
    const gone = new Set<number>();
    const via = (i: number) => (path: string, init?: RequestInit) => {
      const body = typeof init?.body === "string" ? init.body : "";
      if (i < dropping && body.includes("MaskedInputCollection")) gone.add(i);
      return gone.has(i) ? Promise.reject(new Error("the laptop's lid closed")) : serve(path, init);
    };
    const workers = Array.from({ length: nodes }, (_, i) =>
      new DeferredSecureWorker({
        coordinator: via(i),
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
    const domain = uploadDomain(net.chainId, addresses.registry);
    const start = await signJson(accountUploadSigner(owner), domain, "/assign", { jobId, specCid });
    await post("/assign", start.body, start.headers);
    await phase("assign", "round");
    const outcomes: string[] = [];
    await inLanes(workers, lanes, async (w) => {
      const r = await profile.time("laptop tick", () => w.tick());
      if (r !== "trained") outcomes.push(r);
    });
    if (outcomes.length) {
      throw new Error(`Cannot run round: ${outcomes.length} ticks: ${outcomes[0]}`);
    }
    let secureResult: RoundResult["secure"];
    if (secure) {
      await phase("round", "secure");
      const jump = () => skew += STAGE_MS;
      secureResult = await secureSession(workers, jobId, dropping, serve, jump);
      await phase("secure", "aggregate");
    } else await phase("round", "aggregate");
    const [out] = await post("/aggregate", { jobId });
    if (out.status !== "closed") throw new Error(`round did not close: ${JSON.stringify(out)}`);
    await phase("aggregate", "finalize");
    await post("/finalize", { jobId });
    await phase("finalize", "after");
    untimeRpc();
    const t0 = performance.now();
    for (const body of envelopes) checkSignatures(ctx, spec, parseEnvelope(JSON.parse(body)));
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
      bytes,
      ...(secureResult ? { secure: secureResult } : {}),
    };
  } finally {
    untimeRpc();
    rss.stop();
    kv.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Every laptop's SecAgg+ run at once; whenever the open stage waits only for laptops that dropped,
 * `jump` moves the coordinator's clock past the stage deadline (a real round waits `stageMs`).
 */
async function secureSession(
  workers: DeferredSecureWorker[],
  jobId: Hex,
  dropping: number,
  serve: (path: string, init?: RequestInit) => Promise<Response>,
  jump: () => void,
): Promise<{ dropped: number; included: number }> {
  const running = new Set(workers.map((_, i) => i));
  const outcomes = workers.map((w, i) =>
    w.secureRun!().catch((e) => `dropped: ${(e as Error).message}`).finally(() => running.delete(i))
  );
  const ids = workers.map((w) => w.nodePubkey.toLowerCase());
  const jumped = new Set<string>();
  while (running.size > 0) {
    await new Promise((r) => setTimeout(r, 100));
    const view = await (await serve(`/secagg?jobId=${jobId}`)).json();
    const waiting: string[] = view?.waitingFor ?? [];
    const stage = `${view?.session?.attempt}:${view?.stage}`;
    const alive = (id: string) => running.has(ids.indexOf(id.toLowerCase()));
    if (!jumped.has(stage) && waiting.length > 0 && !waiting.some(alive)) {
      jumped.add(stage);
      jump();
    }
  }
  const done = await Promise.all(outcomes);
  const included = done.filter((o) => o === "included").length;
  if (included === 0) throw new Error(`Cannot run secure round: ${done[dropping]}`);
  return { dropped: dropping, included };
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

/**
 * A secure round against the plain one of the same run: wall time and requests of the laptops'
 * part (ticks, plus the SecAgg+ session), wall time of the close, and the bytes each laptop moved
 * and the coordinator served, as ratios.
 */
export function printSecureComparison(plain: RoundResult, secure: RoundResult): void {
  const wall = (r: RoundResult, phases: string[]) =>
    r.phases.filter(([ph]) => phases.includes(ph)).reduce((s, [, ms]) => s + ms, 0);
  // Laptops and coordinator share this process: wall time is theirs together, and summed route
  // latency overlaps when every laptop polls at once, so requests are counted instead.
  const asked = (r: RoundResult, phases: string[]) =>
    phases.reduce((s, ph) => s + (r.bytes[ph]?.requests ?? 0), 0);
  const moved = (r: RoundResult, phases: string[]) =>
    phases.reduce((s, ph) => s + (r.bytes[ph]?.up ?? 0) + (r.bytes[ph]?.down ?? 0), 0);
  const nodePhases = { plain: ["round"], secure: ["round", "secure"] };
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const sec2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const n = plain.nodes;
  const s = secure.secure!;
  console.log(
    `   secure aggregation vs plain, ${n} laptops, ${s.dropped} dropped after ShareKeys, ` +
      `${s.included} in the sum:`,
  );
  const rows: [string, number, number, (x: number) => string][] = [
    [
      "laptops' part, wall (ticks; + SecAgg+ session)",
      wall(plain, nodePhases.plain),
      wall(secure, nodePhases.secure),
      sec2,
    ],
    [
      "  requests laptops made to the coordinator in it",
      asked(plain, nodePhases.plain),
      asked(secure, nodePhases.secure),
      String,
    ],
    [
      "close, wall (POST /aggregate)",
      wall(plain, ["aggregate"]),
      wall(secure, ["aggregate"]),
      sec2,
    ],
    [
      "bytes per laptop (up + down, SVDB included)",
      moved(plain, nodePhases.plain) / n,
      moved(secure, nodePhases.secure) / n,
      kib,
    ],
    [
      "bytes at the coordinator (all laptops, in + out)",
      moved(plain, nodePhases.plain),
      moved(secure, nodePhases.secure),
      kib,
    ],
  ];
  for (const [label, a, b, f] of rows) {
    console.log(`      ${label}: ${f(a)} -> ${f(b)} (${ratio(b, a)})`);
  }
}
