/**
 * SVDB throughput: `Store.put`/`Store.get` on each backend (filesystem with and without fsync,
 * Deno KV in a file and in memory) against plain `Deno.writeFile`/`Deno.readFile` of the same
 * bytes, plus CID and Merkle-root computation. Medians over repeats, in one run.
 *
 *   deno task bench:store            # 32 MiB, 5 repeats
 *   deno task bench:store 128 7      # 128 MiB, 7 repeats
 */
import { openFsStore, type Store } from "../lib/store/store.ts";
import { openStore } from "../lib/store/open_store.ts";
import { computeCid } from "../lib/store/cid.ts";
import { merkleRoot } from "../lib/crypto/merkle.ts";

const MIB = 1024 * 1024;
const sizeMiB = Number(Deno.args[0] ?? 32);
const repeats = Number(Deno.args[1] ?? 5);

function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, length >>> 2);
  let x = seed || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const dir = await Deno.makeTempDir({ prefix: "artha-bench-" });
const results: Record<string, number[]> = {};
const record = (name: string, seconds: number) => (results[name] ??= []).push(sizeMiB / seconds);
try {
  for (let r = 0; r < repeats; r++) {
    const bytes = randomBytes(sizeMiB * MIB, r + 1); // fresh bytes: no dedup between repeats
    const backends: [string, () => Promise<Store>][] = [
      ["fs sync=true", () => openFsStore(`${dir}/store-${r}-sync`, { sync: true })],
      ["fs sync=false", () => openFsStore(`${dir}/store-${r}`, { sync: false })],
      ["kv file", () => openStore({ kind: "kv", kv: `${dir}/store-${r}.kv` })],
      ["kv :memory:", () => openStore({ kind: "kv", kv: ":memory:" })],
    ];
    for (const [backend, open] of backends) {
      const store = await open();
      let cid!: Awaited<ReturnType<typeof store.put>>;
      record(`put ${backend}`, await time(async () => (cid = await store.put(bytes))));
      record(`get ${backend}`, await time(() => store.get(cid)));
      await store.close();
    }
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith("store-")) await Deno.remove(`${dir}/${e.name}`, { recursive: true });
    }
    const plain = `${dir}/plain-${r}`;
    record("Deno.writeFile (no fsync)", await time(() => Deno.writeFile(plain, bytes)));
    record(
      "Deno.writeFile + fsync",
      await time(async () => {
        using f = await Deno.open(`${plain}.s`, { write: true, create: true });
        let n = 0;
        while (n < bytes.length) n += await f.write(bytes.subarray(n));
        await f.sync();
      }),
    );
    record("Deno.readFile", await time(() => Deno.readFile(plain)));
    await Deno.remove(plain);
    await Deno.remove(`${plain}.s`);
    record("computeCid (v1)", await time(() => computeCid(bytes)));
    record("merkleRoot keccak 4 KiB", await time(() => Promise.resolve(merkleRoot(bytes))));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

const med = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const cell = (name: string) => med[name]!.toFixed(1).padStart(14);
const backends = ["fs sync=true", "fs sync=false", "kv file", "kv :memory:"];
console.log(`SVDB bench: ${sizeMiB} MiB, median of ${repeats} (MiB/s)`);
console.log(`${"Store".padEnd(6)}${backends.map((b) => b.padStart(14)).join("")}`);
for (const op of ["put", "get"]) {
  console.log(`${op.padEnd(6)}${backends.map((b) => cell(`${op} ${b}`)).join("")}`);
}
for (const [name, mbs] of Object.entries(med)) {
  if (!/^(put|get) /.test(name)) {
    console.log(`${name.padEnd(28)} ${mbs.toFixed(1).padStart(8)} MiB/s`);
  }
}
const ratio = (a: string, b: string) => (med[a]! / med[b]!).toFixed(2);
console.log(
  `put(sync=true) / writeFile+fsync   ${ratio("put fs sync=true", "Deno.writeFile + fsync")}`,
);
console.log(
  `put(sync=false) / writeFile         ${ratio("put fs sync=false", "Deno.writeFile (no fsync)")}`,
);
console.log(`get / readFile                      ${ratio("get fs sync=false", "Deno.readFile")}`);
console.log(`kv file / fs sync=false: put       ${ratio("put kv file", "put fs sync=false")}`);
console.log(`kv file / fs sync=false: get       ${ratio("get kv file", "get fs sync=false")}`);
console.log(`kv file / fs sync=true:  put       ${ratio("put kv file", "put fs sync=true")}`);
