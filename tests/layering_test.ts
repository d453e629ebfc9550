/**
 * The layers depend downward only (functions -> lib -> kernel; entry points above them) and no
 * module imports itself through a cycle. Reads every source file's relative imports.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
/** Rank of each layer: a module may import only modules of a lower or equal rank. */
const RANK: [RegExp, number][] = [
  [/^kernel\//, 0],
  [/^lib\//, 1],
  [/^functions\//, 2],
  [/^(worker|demo|demo_steps|infer|report|dataset|chain|deploy|job)\.ts$/, 3],
];

function rankOf(path: string): number | undefined {
  return RANK.find(([re]) => re.test(path))?.[1];
}

async function sources(dir: string, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}${e.name}`;
    if (e.isDirectory && e.name !== "node_modules" && e.name !== "wasm" && e.name !== "abi") {
      await sources(`${path}/`, out);
    } else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(path, root));
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const out: string[] = [];
  const pattern =
    /^(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']/gm;
  for (const m of text.matchAll(pattern)) {
    out.push(new URL((m[1] ?? m[2])!, new URL(dir, "file:///r/")).pathname.slice(3));
  }
  return out;
}

Deno.test("imports go downward only: kernel <- lib <- functions <- entry points", async () => {
  const files = [
    ...await sources("kernel/"),
    ...await sources("lib/"),
    ...await sources("functions/"),
    "worker.ts",
    "demo.ts",
    "infer.ts",
    "report.ts",
    "demo_steps.ts",
    "dataset.ts",
    "chain.ts",
    "deploy.ts",
    "job.ts",
  ];
  const upward: string[] = [];
  for (const f of files) {
    const r = rankOf(f)!;
    for (const dep of await importsOf(f)) {
      const d = rankOf(dep);
      if (d !== undefined && d > r) upward.push(`${f} -> ${dep}`);
    }
  }
  assert.deepEqual(upward, []);
});

Deno.test("no module reaches itself through its imports", async () => {
  const files = [
    ...await sources("kernel/"),
    ...await sources("lib/"),
    ...await sources("functions/"),
    "worker.ts",
    "demo.ts",
    "infer.ts",
    "report.ts",
    "demo_steps.ts",
    "dataset.ts",
    "chain.ts",
    "deploy.ts",
    "job.ts",
  ];
  const graph = new Map<string, string[]>();
  for (const f of files) {
    graph.set(
      f,
      (await importsOf(f)).filter((d) => graph.has(d) || files.includes(d)),
    );
  }
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "visiting") {
      cycles.push([...stack.slice(stack.indexOf(f)), f].join(" -> "));
      return;
    }
    state.set(f, "visiting");
    for (const d of graph.get(f) ?? []) visit(d, [...stack, f]);
    state.set(f, "done");
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});

/** Product code: what the layering rules below apply to (tests and benchmarks are out of scope). */
async function productFiles(): Promise<string[]> {
  return [
    ...await sources("kernel/"),
    ...await sources("lib/"),
    ...await sources("functions/"),
    "worker.ts",
    "demo.ts",
    "infer.ts",
    "report.ts",
    "demo_steps.ts",
    "dataset.ts",
    "chain.ts",
    "deploy.ts",
    "job.ts",
  ];
}

const isPrivate = (path: string) => /(^|\/)_[^/]*\.ts$/.test(path);
const folderOf = (path: string) => path.slice(0, path.lastIndexOf("/") + 1);

Deno.test("functions/ are handlers: no handler imports another, no private helpers but _http", async () => {
  const handlers = (await sources("functions/")).filter((f) => !f.includes("/_"));
  const helpers = (await sources("functions/")).filter((f) => f.includes("/_"));
  assert.deepEqual(helpers.sort(), ["functions/_dashboard_html.ts", "functions/_http.ts"]);
  const crossing: string[] = [];
  for (const f of handlers) {
    // The router composes every handler (and local.ts serves the router): that is their job.
    if (f === "functions/router.ts" || f === "functions/local.ts") continue;
    for (const dep of await importsOf(f)) {
      if (dep.startsWith("functions/") && !dep.includes("/_")) crossing.push(`${f} -> ${dep}`);
    }
  }
  assert.deepEqual(crossing, []);
});

/**
 * Private modules (`_name.ts`) known to be imported from another folder, each with why it is
 * tolerated for now. A new crossing fails the test.
 */
const PRIVATE_CROSSINGS: Record<string, string> = {};

Deno.test("no module imports another folder's private (_name.ts) module", async () => {
  const crossing: string[] = [];
  // Benchmarks and scripts too: a private module is its folder's to change, whoever imports it.
  const files = [...await productFiles(), ...await sources("bench/"), ...await sources("scripts/")];
  for (const f of files) {
    for (const dep of await importsOf(f)) {
      if (isPrivate(dep) && folderOf(dep) !== folderOf(f)) crossing.push(`${f} -> ${dep}`);
    }
  }
  assert.deepEqual(crossing.filter((c) => !(c in PRIVATE_CROSSINGS)), []);
});

/**
 * A direct chain call: a contract read, write, simulation, event query or subscription, or a send
 * through lib/chain's sendContract. lib/chain holds one verb per file; everyone else calls those.
 */
const RAW_CHAIN_CALL =
  /\.(?:readContract|writeContract|simulateContract|estimateContractGas|getContractEvents|watchContractEvent|watchEvent)\s*[<(]|\bsendContract\s*[<(]/;

Deno.test("chain calls go through lib/chain verbs", async () => {
  const callers: string[] = [];
  for (const f of await productFiles()) {
    if (f.startsWith("lib/chain/")) continue;
    if (RAW_CHAIN_CALL.test(await Deno.readTextFile(new URL(f, root)))) callers.push(f);
  }
  assert.deepEqual(callers.sort(), []);
});

Deno.test("the raw chain call pattern sees every form of direct call", () => {
  const calls = [
    "client.readContract({",
    "await c.writeContract({",
    "client.simulateContract<typeof abi>(",
    "client.estimateContractGas(",
    "client.getContractEvents({",
    "client.watchContractEvent({",
    "client.watchEvent({",
    "sendContract(client, {",
    "return sendContract (validator, {",
  ];
  assert.deepEqual(calls.filter((c) => !RAW_CHAIN_CALL.test(c)), []);
  // Naming a verb, importing sendContract's types or calling a lib/chain verb is no raw call.
  const verbs = [
    'import { sendContract, type SendResult } from "./send_contract.ts";',
    "await readJob(client, { addresses, jobId });",
    "// readContract reads at the latest block",
  ];
  assert.deepEqual(verbs.filter((c) => RAW_CHAIN_CALL.test(c)), []);
});

/** Where environment variables may be read: the one configuration module, and the kernel's
 * inference runtime (it also runs in browsers and sits below lib/). */
const ENV_READERS = ["lib/config.ts"];

/** Any use of Deno's environment: reading one variable or all, testing, setting or deleting one. */
const ENV_ACCESS = /\bDeno\.env\.(?:get|toObject|has|set|delete)\b/;

Deno.test("environment variables are read in one module", async () => {
  const readers: string[] = [];
  for (const f of [...await productFiles(), ...await sources("kernel/")]) {
    if (ENV_ACCESS.test(await Deno.readTextFile(new URL(f, root)))) readers.push(f);
  }
  assert.deepEqual([...new Set(readers)].sort(), [...ENV_READERS].sort());
});

Deno.test("the environment pattern sees every form of access", () => {
  const uses = [
    'Deno.env.get("ARTHA_RPC")',
    "const all = Deno.env.toObject();",
    'if (Deno.env.has("CI")) {',
    'Deno.env.set("X", "1")',
    'Deno.env.delete("X")',
    "const read = Deno.env.get;",
  ];
  assert.deepEqual(uses.filter((u) => !ENV_ACCESS.test(u)), []);
  assert.equal(ENV_ACCESS.test("const env = loadConfig().env;"), false);
});

Deno.test("each lib folder's mod.ts lists every public module of the folder", async () => {
  // kernel_worker.ts starts a Web Worker's message loop when imported: not re-exported.
  const NOT_EXPORTED = new Set(["lib/browser/kernel_worker.ts"]);
  const missing: string[] = [];
  for await (const e of Deno.readDir(new URL("lib/", root))) {
    if (!e.isDirectory || e.name === "abi") continue;
    const dir = `lib/${e.name}/`;
    const mod = await Deno.readTextFile(new URL(`${dir}mod.ts`, root));
    for await (const f of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}${f.name}`;
      if (!f.isFile || !f.name.endsWith(".ts") || f.name.startsWith("_")) continue;
      if (f.name === "mod.ts" || NOT_EXPORTED.has(path)) continue;
      if (!mod.includes(`"./${f.name}"`)) missing.push(path);
    }
  }
  assert.deepEqual(missing, [], `not re-exported by their folder's mod.ts: ${missing.join(", ")}`);
});
