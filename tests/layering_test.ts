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
  [/^(worker|demo|infer)\.ts$/, 3],
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
