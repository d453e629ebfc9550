/**
 * The command lines' settings as a careless or hurried user types them (found in the CLI audit):
 * each mistake is refused before anything is sent, in one line naming the flag or variable, and
 * never quoting the operator's key back.
 */
import assert from "node:assert/strict";
import {
  ConfigError,
  env,
  readChainSettings,
  readDatasetSettings,
  readDeploySettings,
  readJobSettings,
  readWorkerSettings,
} from "../../lib/config.ts";
import { withEnv } from "./_env.ts";

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ADDRESSES = Object.fromEntries(
  ["registry", "reputation", "jobs", "proofs", "models", "dids", "verification", "disputes"].map(
    (c, i) => [c, `0x${String(i + 1).padStart(40, "0")}`],
  ),
);
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

const BASE = {
  ARTHA_RPC_URL: undefined,
  ARTH_RPC_URL: undefined,
  ARTHA_CHAIN_ID: undefined,
  ARTHA_COORDINATOR: undefined,
  ARTHA_ADDRESSES: JSON.stringify(ADDRESSES),
  ARTHA_ADDRESSES_FILE: undefined,
  ARTHA_PRIVATE_KEY: KEY,
  INIT_CWD: "/home/me/net",
};

/** The message `fn` is refused with (a ConfigError), or "" when it is accepted. */
function refusal(fn: () => unknown, vars: Record<string, string | undefined> = {}): string {
  return withEnv({ ...BASE, ...vars }, () => {
    try {
      fn();
      return "";
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.message.split("\n").length, 1);
      return e.message;
    }
  });
}

const worker = (...args: string[]) => () => readWorkerSettings(args, { readFiles: false });
const submit = (...args: string[]) => () => readJobSettings(["submit", ...args]);

Deno.test("attacker over the shoulder: the operator's key given on the command line is refused, never echoed", () => {
  const bare = KEY.slice(2);
  for (
    const [fn, where] of [
      [worker("--key", KEY), "--key"],
      [worker(bare.toUpperCase()), "argument 1"],
      [worker("settle", KEY), "argument 2"],
      [() => readJobSettings(["status", KEY]), "argument 2"],
      [() => readChainSettings([`--port=${KEY}`]), "--port"],
    ] as const
  ) {
    const message = refusal(fn);
    assert.match(message, new RegExp(`${where} is your ARTHA_PRIVATE_KEY: never pass it`));
    assert.doesNotMatch(message, new RegExp(bare, "i"), message);
  }
  // Any other 64 hex digits given as --key: a key where a file goes, not echoed either.
  const other = `0x${"12".repeat(32)}`;
  const message = refusal(worker("--key", other));
  assert.match(message, /--key is the node key FILE; the operator's key goes in ARTHA_PRIVATE_KEY/);
  assert.doesNotMatch(message, /1212/);
  // A job id is still shown: it only looks like a key.
  assert.match(refusal(worker("settle", other, "x")), /x is not expected/);
  assert.match(refusal(worker(other)), new RegExp(`${other} is not a worker command`));
});

Deno.test("a flag given twice is refused, not read as its last value", () => {
  assert.match(refusal(submit("--budget", "1", "--budget", "1000")), /--budget is given twice/);
  assert.match(refusal(worker("--poll=200", "--poll", "300")), /--poll is given twice/);
  // A flag that takes a list may be repeated.
  const vars = { ARTHA_OWNER_DID: undefined };
  const prepare = ["prepare", "/etc/hostname", "--dry-run", "--drop", "a", "--drop", "b"];
  assert.equal(refusal(() => readDatasetSettings(prepare), vars), "");
});

Deno.test("a switch given a value says it takes none", () => {
  assert.match(refusal(worker("--quiet=false")), /--quiet takes no value/);
  assert.match(refusal(worker("--poll")), /--poll needs a value/);
});

Deno.test("numbers are plain decimals; a negative one is named as such", () => {
  for (
    const [args, pattern] of [
      [["--chain-id", "1.0"], /--chain-id must be an integer/],
      [["--chain-id", "0x10"], /--chain-id must be an integer/],
      [["--poll", " 300"], /--poll must be an integer/],
      [["--poll=-5"], /--poll must be an integer in \[100, 600000\], got -5/],
      [["--poll", "-5"], /--poll must not be negative, got -5/],
      [["--heartbeat-ms", "1"], /--heartbeat-ms must be an integer in \[1000, 3600000\], got 1/],
    ] as const
  ) {
    assert.match(refusal(worker(...args)), pattern);
  }
  for (const args of [["--rounds", "0x10"], ["--seed", "1e3"], ["--nodes", " 3"]]) {
    assert.match(refusal(submit(...args)), new RegExp(`${args[0]} must be an integer`));
  }
  // A fraction may be written with an exponent: a learning rate of 3e-4.
  assert.equal(refusal(submit("--lr", "3e-4")), "");
  assert.equal(refusal(submit("--lr", ".5")), "");
  assert.equal(refusal(worker("--poll", "200", "--heartbeat-ms", "1500")), "");
});

Deno.test("an empty path is refused, not read as the folder the command runs in", () => {
  assert.match(refusal(worker("--dir=")), /--dir is empty/);
  assert.match(refusal(worker("--state= ")), /--state is empty/);
  assert.match(refusal(submit("--data=")), /--data is empty/);
  assert.match(refusal(submit("--store=")), /--store is empty/);
  assert.match(refusal(() => readJobSettings(["model", "--out="])), /--out is empty/);
});

Deno.test("job submit: a codec's option without its codec, or out of the spec's range, is refused", () => {
  assert.match(refusal(submit("--fraction", "0.5")), /--fraction applies to --codec topk/);
  assert.match(refusal(submit("--parts", "3")), /--parts applies to --codec partition only/);
  assert.match(refusal(submit("--codec", "partition", "--parts", "1")), /--parts must be/);
  assert.match(refusal(submit("--codec", "topk", "--fraction", "1e-9")), /--fraction must be/);
  assert.match(
    refusal(submit("--codec", "partition", "--parts", "4", "--nodes", "3")),
    /--parts must be at most the job's task groups .*: 3\), got 4/,
  );
  assert.equal(refusal(submit("--codec", "partition", "--parts", "3")), "");
  assert.equal(refusal(submit("--codec", "topk", "--fraction", "0.01")), "");
});

Deno.test("job submit: the partition codec's default part count fits the task groups", () => {
  // Found reviewing the CLI fix: the default was min(8, nodes), so --redundancy 2 on 3 nodes
  // asked 3 parts of 2 task groups, refused by the coordinator after the escrow.
  const parts = (...args: string[]) =>
    withEnv(BASE, () => readJobSettings(["submit", ...args])).submit!.parts;
  assert.equal(parts("--codec", "partition", "--nodes", "3", "--redundancy", "2"), 2);
  assert.equal(parts("--codec", "partition", "--nodes", "20"), 8);
  assert.match(
    refusal(submit("--codec", "partition", "--nodes", "2", "--redundancy", "2")),
    /--codec partition needs at least 2 task groups/,
  );
});

Deno.test("dataset prepare: --expires in milliseconds, or centuries ahead, is refused", () => {
  const prepare = (expires: string) => () =>
    readDatasetSettings([
      "prepare",
      "/etc/hostname",
      "--owner",
      "did:artha:01",
      "--grant",
      "did:artha:02",
      "--expires",
      expires,
    ]);
  assert.match(
    refusal(prepare(String(Date.now() + 86_400_000))),
    /--expires looks like milliseconds/,
  );
  assert.match(refusal(prepare("2999-01-01")), /--expires is more than 100 years ahead/);
  const inADay = String(Math.floor(Date.now() / 1000) + 86_400);
  assert.equal(refusal(prepare(inADay)), "");
});

Deno.test("victim: a worker folder that holds code is refused, as the home directory is", () => {
  // The sandboxed worker may write its folder: in the repository, the code its launcher runs.
  assert.match(
    refusal(worker("--dir", ROOT)),
    /--dir \(its node.key\) is .*which holds the worker's own code/,
  );
  assert.match(refusal(worker("--state", `${ROOT}/lib/worker.json`)), /--state is .*own code/);
  assert.match(refusal(worker("--key", `${ROOT}/node.key`)), /--key is .*own code/);
  // Its .artha/ data folder is where a local network's workers live (README walkthrough).
  assert.equal(refusal(worker("--dir", `${ROOT}/.artha/laptop1`)), "");
  assert.equal(refusal(worker("--dir", "laptop1")), "");
});

Deno.test("victim: a worker folder of another Deno project is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, "{}");
    assert.match(refusal(worker("--dir", dir)), /which holds a deno.json project/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "deploy: an --out it may not write, or a folder, is refused before anything is sent",
  permissions: { read: true, env: true, write: [`${ROOT}/.artha`] },
  fn() {
    // The folder the walkthrough's commands write in; a fresh clone has none until one runs.
    Deno.mkdirSync(`${ROOT}/.artha`, { recursive: true });
    assert.match(
      refusal(() => readDeploySettings(["--out", "addresses.json"]), { INIT_CWD: ROOT }),
      /--out must be a path this process may write \(deno task deploy writes only inside \.artha\/\)/,
    );
    assert.match(
      refusal(() => readDeploySettings(["--out", ".artha"]), { INIT_CWD: ROOT }),
      /--out is .*\.artha, a folder: name the file/,
    );
    const vars = { ...BASE, INIT_CWD: ROOT, ARTHA_ADDRESSES: undefined };
    const out = withEnv(vars, () => readDeploySettings(["--out", ".artha/a.json"]).out);
    assert.equal(out, `${ROOT}/.artha/a.json`);
  },
});

Deno.test("ARTHA_DEBUG takes the usual words for yes", () => {
  for (const yes of ["1", "true", "yes", "on", "YES"]) {
    assert.ok(withEnv({ ARTHA_DEBUG: yes }, () => env.debug()), yes);
  }
  for (const no of [undefined, "0", "no", "off"]) {
    assert.ok(!withEnv({ ARTHA_DEBUG: no }, () => env.debug()), String(no));
  }
});
