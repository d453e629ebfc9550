/**
 * Secure aggregation (SecAgg+, lib/privacy/secure_aggregation/) against a plain round, both
 * measured in this run: bytes and compute time per node and at the server, for 8, 100 and
 * 1,000 nodes with 10% of them dropping out after ShareKeys (the expensive case: their masks
 * must be rebuilt), on vectors as long as the demo model's parameter count.
 *
 *     deno run -A bench/secure_aggregation.ts                  # 8, 100, 1000 nodes, demo model
 *     deno run -A bench/secure_aggregation.ts 8,100 1000000    # other node counts, 1M params
 *
 * Plain round: each surviving node sends its Float32Array (4 bytes per parameter), the server
 * adds them into a Float64Array. SecAgg round: every message of every stage, JSON sizes (the
 * masked input in its binary form), all clients simulated in this one process, one after
 * another, so "per node" is one node's own compute, as on its own laptop. Medians over
 * surviving nodes and over reps (5 reps at 8 nodes, 3 at 100, 1 at 1,000). The decoded sum is
 * checked against the float64 sum of the clipped inputs on every run.
 *
 * @module
 */
import { DEFAULT_DEMO } from "../demo.ts";
import { paramLayout } from "../kernel/params.ts";
import { SecAggClient } from "../lib/privacy/secure_aggregation/client.ts";
import { SecAggServer } from "../lib/privacy/secure_aggregation/server.ts";
import { resolveParams, type SecAggParams } from "../lib/privacy/secure_aggregation/params.ts";
import {
  type ClientMessage,
  encodeMaskedInput,
  type ServerRequest,
} from "../lib/privacy/secure_aggregation/messages.ts";
import { bytesToHex } from "../lib/crypto/digest.ts";

const DROP_FRACTION = 0.1;
const CLIP = 0.1;
const TEMPLATES = 8;
const DEMO_PARAMS = paramLayout({
  kind: "gpt",
  maxT: DEFAULT_DEMO.T,
  layers: DEFAULT_DEMO.layers,
  heads: 4, // demo_steps.ts submitJob
  width: DEFAULT_DEMO.width,
}).size;

/** One round's figures. */
interface Figures {
  nodeBytes: number;
  serverBytes: number;
  nodeMs: number;
  serverMs: number;
}

/** A few update-like vectors (std 1e-3); node i sends template i mod 8. */
function templates(length: number): Float32Array[] {
  let x = 2463534242;
  return Array.from({ length: TEMPLATES }, () =>
    Float32Array.from({ length }, () => {
      let s = 0;
      for (let k = 0; k < 4; k++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        s += (x >>> 0) / 2 ** 32 - 0.5;
      }
      return s * 1.7e-3; // sum of 4 uniforms: near-Gaussian, std ~1e-3
    }));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function droppedSet(n: number, rep: number): Set<number> {
  const count = Math.max(1, Math.round(DROP_FRACTION * n));
  const out = new Set<number>();
  for (let i = 0; out.size < count; i++) out.add((i * 7919 + rep * 104729 + 13) % n);
  return out;
}

function plainRound(n: number, inputs: Float32Array[], dropped: Set<number>): Figures {
  const length = inputs[0]!.length;
  const acc = new Float64Array(length);
  const nodeMs: number[] = [];
  let serverMs = 0, serverBytes = 0;
  for (let i = 0; i < n; i++) {
    if (dropped.has(i)) continue;
    let t = performance.now();
    const x = inputs[i % TEMPLATES]!;
    const upload = new Uint8Array(x.buffer, x.byteOffset, x.byteLength).slice();
    nodeMs.push(performance.now() - t);
    t = performance.now();
    const v = new Float32Array(upload.buffer);
    for (let j = 0; j < length; j++) acc[j]! += v[j]!;
    serverMs += performance.now() - t;
    serverBytes += upload.length;
  }
  return { nodeBytes: 4 * length, serverBytes, nodeMs: median(nodeMs), serverMs };
}

const encoder = new TextEncoder();
function wireBytes(m: ClientMessage | ServerRequest): number {
  if ("masked" in m) return encodeMaskedInput(m).length;
  return encoder.encode(JSON.stringify(m)).length;
}

async function secureRound(n: number, inputs: Float32Array[], dropped: Set<number>) {
  const params = resolveParams({
    context: `bench:${n}:${crypto.randomUUID()}`,
    seed: bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
    clients: Array.from({ length: n }, (_, i) => `0x${i.toString(16).padStart(64, "0")}`),
    vectorLength: inputs[0]!.length,
    clip: CLIP,
  });
  const input = (id: string) => inputs[params.index.get(id)! % TEMPLATES]!;
  const nodeMs = new Map<string, number>(params.clients.map((id) => [id, 0]));
  const nodeBytes = new Map<string, number>(params.clients.map((id) => [id, 0]));
  let serverMs = 0, serverBytes = 0;
  const onNode = async <T>(id: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await f();
    nodeMs.set(id, nodeMs.get(id)! + performance.now() - t);
    return out;
  };
  const onServer = async <T>(f: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await f();
    serverMs += performance.now() - t;
    return out;
  };
  const transfer = (id: string, m: ClientMessage | ServerRequest) => {
    const b = wireBytes(m);
    nodeBytes.set(id, nodeBytes.get(id)! + b);
    serverBytes += b;
  };
  const deliver = async (msg: ClientMessage) => {
    transfer(msg.id, msg);
    const receipt = await onServer(() => server.receive(msg));
    if (!receipt.ok) throw new Error(receipt.message);
  };
  const server = await onServer(() => new SecAggServer(params));
  const clients = new Map<string, SecAggClient>();
  for (const id of params.clients) {
    clients.set(id, await onNode(id, () => SecAggClient.create(params, id)));
    await deliver(await onNode(id, () => clients.get(id)!.advertiseKeys()));
  }
  const gone = new Set([...dropped].map((i) => params.clients[i]!));
  // Each closeStage opens the next stage; dropouts leave right after ShareKeys.
  while (server.stage !== "Unmasking") {
    const requests = await onServer(() => server.closeStage());
    const leaving = server.stage === "MaskedInputCollection";
    for (const [id, req] of requests) {
      if (leaving && gone.has(id)) continue;
      transfer(id, req);
      await deliver(await onNode(id, () => clients.get(id)!.respond(req, input(id))));
    }
  }
  const result = await onServer(() => server.finish());
  checkSum(params, result.sum, result.included.map(input));
  const survivors = params.clients.filter((id) => !gone.has(id));
  const figures: Figures = {
    nodeBytes: median(survivors.map((id) => nodeBytes.get(id)!)),
    serverBytes,
    nodeMs: median(survivors.map((id) => nodeMs.get(id)!)),
    serverMs,
  };
  return { figures, params };
}

/** Throws unless the decoded sum is the clipped inputs' sum to the fixed-point resolution. */
function checkSum(params: SecAggParams, sum: Float64Array, inputs: Float32Array[]): void {
  const bound = inputs.length / (2 * params.scale) + 1e-12;
  for (let j = 0; j < sum.length; j++) {
    let want = 0;
    for (const x of inputs) want += Math.max(-CLIP, Math.min(CLIP, x[j]!));
    if (Math.abs(sum[j]! - want) > bound) {
      throw new Error(`Wrong sum at ${j}: ${sum[j]} vs ${want}`);
    }
  }
}

function medianFigures(runs: Figures[]): Figures {
  const pick = (k: keyof Figures) => median(runs.map((r) => r[k]));
  return {
    nodeBytes: pick("nodeBytes"),
    serverBytes: pick("serverBytes"),
    nodeMs: pick("nodeMs"),
    serverMs: pick("serverMs"),
  };
}

const mb = (b: number) => b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`;
const ms = (t: number) =>
  t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${t.toFixed(t < 10 ? 2 : 0)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(a / b < 10 ? 2 : 0)}x`;

async function main(): Promise<void> {
  const sizes = (Deno.args[0] ?? "8,100,1000").split(",").map(Number);
  const length = Number(Deno.args[1] ?? DEMO_PARAMS);
  const inputs = templates(length);
  console.log(
    `# SecAgg+ vs plain, ${length.toLocaleString("en")} params/node` +
      (length === DEMO_PARAMS ? " (the demo model)" : "") +
      `, ${DROP_FRACTION * 100}% of nodes drop after ShareKeys, clip ${CLIP}\n`,
  );
  console.log(
    "| nodes | k / t / min | bytes/node plain | SecAgg | x | server bytes plain | SecAgg | x " +
      "| time/node plain | SecAgg | x | server time plain | SecAgg | x | wall |",
  );
  console.log("|" + " --- |".repeat(16));
  for (const n of sizes) {
    const reps = n <= 8 ? 5 : n <= 100 ? 3 : 1;
    const plain: Figures[] = [], secure: Figures[] = [];
    let params: SecAggParams | undefined;
    const t0 = performance.now();
    for (let rep = 0; rep < reps; rep++) {
      const dropped = droppedSet(n, rep);
      plain.push(plainRound(n, inputs, dropped));
      const run = await secureRound(n, inputs, dropped);
      secure.push(run.figures);
      params = run.params;
    }
    const p = medianFigures(plain), s = medianFigures(secure);
    console.log(
      `| ${n} | ${params!.degree} / ${params!.threshold} / ${params!.minSurvivors} ` +
        `| ${mb(p.nodeBytes)} | ${mb(s.nodeBytes)} | ${ratio(s.nodeBytes, p.nodeBytes)} ` +
        `| ${mb(p.serverBytes)} | ${mb(s.serverBytes)} | ${ratio(s.serverBytes, p.serverBytes)} ` +
        `| ${ms(p.nodeMs)} | ${ms(s.nodeMs)} | ${ratio(s.nodeMs, p.nodeMs)} ` +
        `| ${ms(p.serverMs)} | ${ms(s.serverMs)} | ${ratio(s.serverMs, p.serverMs)} ` +
        `| ${ms((performance.now() - t0) / reps)}/rep x ${reps} |`,
    );
  }
}

if (import.meta.main) await main();
