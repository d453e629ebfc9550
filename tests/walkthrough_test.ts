/**
 * The README's "Run a network" walkthrough, run exactly as written: every ```sh block of the
 * section is a terminal, every line a command run as its own process (`npx --yes deno@2.9.6` is
 * this same Deno). Only ports and the folder are substituted, through the environment: the chain
 * listens where ARTHA_RPC_URL says, the coordinator where DENO_SERVE_ADDRESS says (clients find it
 * through ARTHA_COORDINATOR), and the commands run from a fresh folder inside the repository (so
 * `deno task` finds deno.json and `.artha/` is that folder's). Long-running commands (chain,
 * serve, worker) are started and the walkthrough goes on once each prints that it is ready; the
 * rest must exit with status 0. Every process is stopped at the end, and none is left behind.
 */
import assert from "node:assert/strict";
import { freePort } from "../lib/chain/devnet.ts";

const root = new URL("../", import.meta.url).pathname;
const README = new URL("../README.md", import.meta.url);
const DENO = ["npx", "--yes", "deno@2.9.6"];

/** What a long-running task prints once it is ready for the next command. */
const READY: Record<string, RegExp> = {
  chain: /listening on http:\/\/127\.0\.0\.1:\d+/,
  serve: /coordinator listening on http/,
  worker: /node 0x[0-9a-f]{64} registered/,
};

/** One command of the walkthrough: its variables and its words. */
interface Command {
  env: Record<string, string>;
  words: string[];
}

/** The ```sh blocks of the README section `heading`, each a list of commands. */
export function walkthroughBlocks(markdown: string, heading = "## Run a network"): Command[][] {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no "${heading}" section`);
  const end = markdown.indexOf("\n## ", start + heading.length + 2);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.map((block) => {
    const exported: Record<string, string> = {};
    const commands: Command[] = [];
    for (const line of block.replace(/\\\n\s*/g, " ").split("\n")) {
      const words = shellWords(line);
      if (words.length === 0) continue;
      const env: Record<string, string> = {};
      const isExport = words[0] === "export";
      if (isExport) words.shift();
      while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
        const [name, ...value] = words.shift()!.split("=");
        (isExport ? exported : env)[name!] = value.join("=");
      }
      if (isExport) continue;
      commands.push({ env: { ...exported, ...env }, words });
    }
    return commands;
  });
}

/** The words of a shell line: quotes, no expansions (the walkthrough uses none), # comments. */
function shellWords(line: string): string[] {
  assert.ok(!/[$`|;&<>]/.test(line.replace(/"[^"]*"|'[^']*'/g, "")), `unsupported: ${line}`);
  const words: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g)) {
    if (m[3] !== undefined) break;
    words.push(m[1] ?? m[2] ?? m[4]!);
  }
  return words;
}

/** A started command: its output so far and its end. */
interface Running {
  line: string;
  child: Deno.ChildProcess;
  output: () => string;
  done: Promise<Deno.CommandStatus>;
}

function start(command: Command, base: Record<string, string>, cwd: string): Running {
  const { words } = command;
  assert.deepEqual(words.slice(0, 3), DENO, `a walkthrough command runs Deno: ${words.join(" ")}`);
  assert.equal(words[3], "task", `a walkthrough command is a task: ${words.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: words.slice(3),
    cwd,
    env: { ...base, ...command.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const read = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const reading = Promise.all([read(child.stdout), read(child.stderr)]);
  const done = child.status.then(async (status) => (await reading, status));
  return { line: words.slice(3).join(" "), child, output: () => text, done };
}

async function until(what: string, ok: () => boolean, ms: number, alive?: Running) {
  const deadline = Date.now() + ms;
  let exited = false;
  alive?.done.then(() => exited = true);
  while (!ok()) {
    if (exited) throw new Error(`${what}: the command exited\n${alive!.output()}`);
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}\n${alive?.output() ?? ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes (Linux) whose environment says they were started from `dir` by `deno task`. */
async function processesFrom(dir: string): Promise<number[]> {
  if (Deno.build.os !== "linux") return [];
  const found: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const environ = await Deno.readFile(`/proc/${e.name}/environ`).catch(() => undefined);
    if (environ && new TextDecoder().decode(environ).split("\0").includes(`INIT_CWD=${dir}`)) {
      found.push(Number(e.name));
    }
  }
  return found;
}

Deno.test("the README's network walkthrough runs as written", {
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await runWalkthrough({});
  assert.ok((await Deno.stat(`${dir}/.artha/svdb`)).isDirectory, "the default SVDB is a folder");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the walkthrough as on Deno Deploy: ARTHA_STORE=kv, no SVDB folder", {
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await runWalkthrough({ ARTHA_STORE: "kv" });
  await assert.rejects(Deno.stat(`${dir}/.artha/svdb`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

/** A terminal's environment with the walkthrough's ports and `extra`. */
function terminalEnv(rpcPort: number, coordinatorPort: number, extra: Record<string, string>) {
  return {
    ...Object.fromEntries(
      // No ARTHA_* settings, and no INIT_CWD (deno task sets it to the folder it is run from,
      // unless a parent `deno task` or npx already did).
      Object.entries(Deno.env.toObject()).filter(([k]) =>
        !/^(ARTHA?_|DENO_SERVE|PORT$|INIT_CWD$)/.test(k)
      ),
    ),
    ARTHA_RPC_URL: `http://127.0.0.1:${rpcPort}`,
    ARTHA_COORDINATOR: `http://127.0.0.1:${coordinatorPort}`,
    DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${coordinatorPort}`,
    NO_COLOR: "1",
    ...extra,
  };
}

/** Runs one README block: one-shot commands to completion, long-running ones until ready. */
async function runBlock(
  block: Command[],
  env: Record<string, string>,
  dir: string,
  runs: { longRunning: Running[]; finished: Running[] },
): Promise<void> {
  const ready: [Running, RegExp][] = [];
  for (const command of block) {
    const task = command.words[4]!;
    const marker = command.words[5] === undefined || command.words[5].startsWith("--")
      ? READY[task]
      : undefined;
    const run = start(command, env, dir);
    if (marker) {
      runs.longRunning.push(run);
      ready.push([run, marker]);
      continue;
    }
    const status = await run.done;
    assert.equal(status.code, 0, `${run.line} exited ${status.code}:\n${run.output()}`);
    runs.finished.push(run);
    if (task === "deploy") {
      // The network's files are the walkthrough folder's, nowhere else.
      assert.ok((await Deno.stat(`${dir}/.artha/addresses.json`)).isFile);
    }
  }
  for (const [run, marker] of ready) {
    await until(run.line, () => marker.test(run.output()), 90_000, run);
  }
}

/** What each command printed: the job's dashboard, result, model, sample, withdrawal, views. */
async function checkOutputs(
  runs: { longRunning: Running[]; finished: Running[] },
  coordinatorPort: number,
): Promise<void> {
  const out = (task: string) =>
    runs.finished.filter((r) => r.line.startsWith(task)).map((r) => r.output()).join("\n");
  assert.match(
    out("task job submit"),
    new RegExp(`dashboard: http://127.0.0.1:${coordinatorPort}/dashboard`),
  );
  assert.match(out("task job status"), /finalized: validation loss [\d.]+ -> [\d.]+ \(improved/);
  assert.match(out("task job model"), /written to/);
  // The finalized job's unspent budget, credited to the owner at settlement.
  assert.match(out("task job cancel"), /withdrew [\d.]+ ARTH to 0x/);
  assert.match(out("task infer"), /^The jury said/m);
  assert.match(out("task worker withdraw"), /withdrew [\d.]+ ARTH/);
  const laptops = runs.longRunning.filter((r) => r.line.startsWith("task worker"));
  assert.ok(laptops.length >= 2, "two or more laptops");
  for (const laptop of laptops) {
    await until("the laptop's reward", () => /your reward/.test(laptop.output()), 30_000, laptop);
    const view = laptop.output();
    assert.match(view, /step \d+\/\d+ loss [\d.]+, [\d,]+ tokens\/s/);
    assert.match(view, /waiting for (a job|round)/);
    assert.match(view, /round 2\/2 of job 0x[0-9a-f]+… closed: validation loss/);
    assert.match(
      view,
      /finalized: .*improved [\d.]+%.*your reward [\d.]+ ARTH.*deno task worker withdraw/,
    );
  }
}

/** Stops the long-running processes (TERM, then KILL after 15 s); none may be left over. */
async function stopAll(longRunning: Running[], dir: string): Promise<void> {
  const kill = (run: Running, signal: Deno.Signal) => {
    try {
      run.child.kill(signal);
    } catch {
      // already exited
    }
  };
  for (const run of [...longRunning].reverse()) kill(run, "SIGTERM");
  const stopped = Promise.all(longRunning.map((r) => r.done));
  const timer = new Promise((r) => setTimeout(r, 15_000, "timeout"));
  if (await Promise.race([stopped, timer]) === "timeout") {
    for (const run of longRunning) kill(run, "SIGKILL");
    await stopped;
  }
  // Nothing started from the walkthrough's folder is left: no chain, coordinator or laptop.
  let left = await processesFrom(dir);
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await processesFrom(dir);
  }
  assert.deepEqual(left, [], "every process the walkthrough started is stopped");
}

/** Runs the README's walkthrough blocks with `extra` in every terminal; returns its folder. */
async function runWalkthrough(extra: Record<string, string>): Promise<string> {
  const blocks = walkthroughBlocks(await Deno.readTextFile(README));
  assert.ok(blocks.length >= 5, "chain, coordinator, laptops, owner, withdraw");
  await Deno.mkdir(`${root}.artha`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${root}.artha`, prefix: "walkthrough-" });
  const rpcPort = freePort(), coordinatorPort = freePort();
  const env = terminalEnv(rpcPort, coordinatorPort, extra);
  const runs = { longRunning: [] as Running[], finished: [] as Running[] };
  try {
    for (const block of blocks) await runBlock(block, env, dir, runs);
    await checkOutputs(runs, coordinatorPort);
  } catch (e) {
    for (const run of [...runs.finished, ...runs.longRunning]) {
      console.log(`$ ${run.line}\n${run.output()}`);
    }
    throw e;
  } finally {
    await stopAll(runs.longRunning, dir);
  }
  return dir;
}
