/**
 * Every command line refuses bad settings the same way, as its user sees it: one line on stderr
 * naming each bad variable or flag and what it expects, exit status 2, no stack trace, nothing
 * spent. Each case runs the real entry point as a subprocess with the permissions its deno.json
 * task grants; the chain checks run against a local anvil.
 */
import assert from "node:assert/strict";
import { startDevnet } from "../lib/chain/devnet.ts";
import { BACKENDS } from "../kernel/inference/runtime.ts";
import { INFER_BACKENDS } from "../lib/config.ts";
import { deployNetwork } from "../lib/network/deploy_network.ts";

const root = new URL("../", import.meta.url).pathname;
const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/** The `deno run`/`deno serve` words of a deno.json task: what a user's command runs. */
function taskCommand(name: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks as Record<
    string,
    string
  >;
  const command = tasks[name]!.split("&&").map((c) => c.trim()).find((c) =>
    /^deno (run|serve) /.test(c)
  );
  // The words as deno task's shell passes them: quotes off, $HOME expanded.
  return command!.split(/\s+/).slice(1).map((w) =>
    w.replace(/^'|'$/g, "").replaceAll("$HOME", Deno.env.get("HOME") ?? "")
  );
}
/** Each entry point with the permissions its deno.json task grants (serve on a free port). */
const ENTRY: Record<string, string[]> = Object.fromEntries(
  ["worker", "serve", "deploy", "job", "chain", "demo", "infer"].map((name) => {
    const words = taskCommand(name);
    const port = words.indexOf("--port");
    if (port >= 0) words[port + 1] = "0";
    return [name, words];
  }),
);

/** What a process needs besides ArthaTrain's settings: PATH, HOME and DENO_DIR (Deno's cache). */
function keep(): Record<string, string> {
  const names = ["PATH", "HOME", "DENO_DIR"];
  return Object.fromEntries(names.flatMap((n) => Deno.env.get(n) ? [[n, Deno.env.get(n)!]] : []));
}

/** Runs `program` with only `env` (and {@link keep}) set; relative paths start in `dir`. */
async function run(program: string, args: string[], env: Record<string, string>, dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...ENTRY[program]!, ...args],
    cwd: root,
    clearEnv: true,
    env: { ...keep(), INIT_CWD: dir, NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return { code: out.code, stderr, stdout: new TextDecoder().decode(out.stdout) };
}

/** A user error: exit 2 and one line on stderr matching every pattern. */
function assertRefused(r: { code: number; stderr: string }, ...patterns: RegExp[]) {
  assert.equal(r.code, 2, `exit status 2 expected, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.split("\n").length, 1, `one line expected:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/, "no stack trace");
  for (const p of patterns) assert.match(r.stderr, p);
}

const ALL_CONTRACTS = [
  "registry",
  "reputation",
  "jobs",
  "proofs",
  "models",
  "dids",
  "verification",
  "disputes",
];

/** A scratch folder inside the project's .artha/, where the tasks may write (as a user's runs). */
async function scratch(prefix: string): Promise<string> {
  await Deno.mkdir(`${root}.artha`, { recursive: true });
  return await Deno.makeTempDir({ dir: `${root}.artha`, prefix });
}

Deno.test("the backends infer accepts are the runtime's, and auto", () => {
  assert.deepEqual([...INFER_BACKENDS], ["auto", ...BACKENDS]);
});

Deno.test("config errors: one line, exit 2, naming each variable", async (t) => {
  const dir = await scratch("config-");
  try {
    await t.step("worker: a bad key is named, never printed; flags checked together", async () => {
      const r = await run("worker", ["--poll", "fast", "--chain-id", "0"], {
        ARTHA_PRIVATE_KEY: "0x1234",
      }, dir);
      assertRefused(r, /ARTHA_PRIVATE_KEY must be a private key/, /--poll/, /--chain-id/);
      assert.doesNotMatch(r.stderr, /0x1234/);
    });

    await t.step("worker: a missing key and an unknown flag", async () => {
      assertRefused(await run("worker", [], {}, dir), /ARTHA_PRIVATE_KEY is not set/);
      assertRefused(
        await run("worker", ["--bogus"], { ARTHA_PRIVATE_KEY: KEY }, dir),
        /--bogus is not a flag of deno task worker/,
      );
    });

    await t.step("worker: a node folder that is or holds the home directory", async () => {
      const home = Deno.env.get("HOME")!;
      assertRefused(
        await run("worker", ["--dir", "~"], { ARTHA_PRIVATE_KEY: KEY }, dir),
        new RegExp(`--dir \\(its node.key\\) is ${home}/node.key, in ${home}: .*home directory`),
      );
      assertRefused(
        await run("worker", ["--state", "/worker.json"], { ARTHA_PRIVATE_KEY: KEY }, dir),
        /--state is \/worker.json, in \/: /,
      );
    });

    await t.step("worker: a bad key file is named before any network call", async () => {
      // Nothing listens at the RPC or the coordinator: a network call would retry, not refuse.
      const addresses = `${dir}/laptop-addresses.json`;
      await Deno.writeTextFile(
        addresses,
        JSON.stringify(Object.fromEntries(ALL_CONTRACTS.map((c) => [c, `0x${"11".repeat(20)}`]))),
      );
      const env = { ARTHA_PRIVATE_KEY: KEY, ARTHA_RPC_URL: "http://127.0.0.1:9" };
      const laptop = `${dir}/laptop`;
      await Deno.mkdir(laptop);
      await Deno.writeTextFile(`${laptop}/node.key`, "not a key", { mode: 0o644 });
      await Deno.chmod(`${laptop}/node.key`, 0o644);
      const args = [
        "--dir",
        laptop,
        "--addresses",
        addresses,
        "--coordinator",
        "http://127.0.0.1:9",
      ];
      assertRefused(
        await run("worker", args, env, dir),
        /--dir \(its node.key\) is .*node.key, with mode 644: readable by others; run chmod 600/,
      );
      await Deno.chmod(`${laptop}/node.key`, 0o600);
      // Checked by the sandboxed worker with the files it reads: reported together.
      assertRefused(
        await run("worker", [...args.slice(0, 2), "--addresses", `${dir}/none.json`], env, dir),
        /node.key, which is not a node key file/,
        /--addresses names .*none.json, which does not exist/,
      );
    });

    await t.step("demo and infer: every bad flag at once", async () => {
      assertRefused(
        await run("demo", ["--nodes", "abc", "--rounds", "x", "--bogus"], {}, dir),
        /--bogus is not a flag of deno task demo/,
      );
      assertRefused(
        await run("demo", ["--nodes", "abc", "--rounds", "x", "--store", "s3"], {}, dir),
        /--nodes must be an integer in \[1, 100000\], got abc/,
        /--rounds must be an integer in \[1, 10000\], got x/,
        /--store must be one of fs, kv/,
      );
      assertRefused(
        await run(
          "demo",
          ["--synchronous", "--local-steps", "80", "--strategy", "diloco", "--optimizer", "sgd"],
          {},
          dir,
        ),
        /--local-steps must be 1 \(or left out\) with --synchronous/,
        /--strategy cannot be set with --synchronous/,
        /--optimizer cannot be set with --synchronous/,
      );
      assertRefused(
        await run("demo", ["--verify", "--codec", "int8"], {}, dir),
        /--codec must be fp32 or partition with --verify \(redundancy 3\), got int8/,
      );
      // Its task may write only inside the repository: an --out elsewhere is refused at start.
      assertRefused(
        await run("demo", ["--out", "/tmp/artha-demo-elsewhere"], {}, dir),
        /Cannot write --out \/tmp\/artha-demo-elsewhere: deno task demo may write only inside/,
      );
      assertRefused(
        await run("infer", ["--model", "x", "hi"], { ARTHA_INFER_BACKEND: "gpu" }, dir),
        /ARTHA_INFER_BACKEND must be one of auto, ort-node, ort-web, kernel, got gpu/,
      );
    });

    await t.step("serve: every bad variable in one line", async () => {
      const r = await run("serve", [], {
        ARTHA_CHAIN_ID: "main",
        ARTHA_ADDRESSES: "addresses.json",
        ARTHA_CRON: "sometimes",
        ARTHA_SVDB_UPLOAD_QUOTA_BYTES: "-1",
        ARTHA_SVDB_UPLOAD_WRITERS: "0x12",
        ARTHA_INFER_BACKEND: "gpu",
        // Outside what the serve task may write: it was Deno's raw permission error at open.
        ARTHA_KV_PATH: "/tmp/outside.kv",
        ARTHA_STORE_DIR: "/tmp/outside-svdb",
      }, dir);
      assertRefused(
        r,
        /ARTHA_KV_PATH must be a path this process may write \(deno task serve writes only inside \.artha\/\), got \/tmp\/outside\.kv/,
        /ARTHA_STORE_DIR must be a path this process may write/,
        /ARTHA_CHAIN_ID must be an integer/,
        /ARTHA_PRIVATE_KEY is not set/,
        new RegExp(`ARTHA_ADDRESSES names ${dir}/addresses.json, which does not exist`),
        /ARTHA_CRON must be one of on, off/,
        /ARTHA_SVDB_UPLOAD_QUOTA_BYTES must be an integer >= 0, got -1/,
        /ARTHA_SVDB_UPLOAD_WRITERS must be comma-separated 0x addresses/,
        /ARTHA_INFER_BACKEND must be one of auto, ort-node, ort-web, kernel, got gpu/,
      );
    });

    await t.step("serve: ARTHA_ADDRESSES as JSON missing contracts", async () => {
      const r = await run("serve", [], {
        ARTHA_PRIVATE_KEY: KEY,
        ARTHA_ADDRESSES: JSON.stringify({ registry: `0x${"11".repeat(20)}` }),
      }, dir);
      assertRefused(r, /ARTHA_ADDRESSES has no 0x address for reputation, jobs/);
    });

    await t.step("deploy, job and chain name their flags", async () => {
      assertRefused(
        await run("deploy", ["--settlement-delay=-1"], { ARTHA_PRIVATE_KEY: KEY }, dir),
        /--settlement-delay must be an integer >= 0, got -1/,
      );
      assertRefused(
        await run("deploy", ["--settlement-delay", "-1"], { ARTHA_PRIVATE_KEY: KEY }, dir),
        /--settlement-delay must not be negative, got -1/,
      );
      assertRefused(
        await run("job", ["submit", "--rounds", "0", "--width", "30", "--budget", "lots"], {
          ARTHA_PRIVATE_KEY: KEY,
          ARTHA_ADDRESSES: `${dir}/none.json`,
        }, dir),
        /--rounds must be an integer in \[1, 10000\], got 0/,
        /--width must be a multiple of 4 x --heads/,
        /--budget must be a positive amount of ARTH/,
        /ARTHA_ADDRESSES names .*none\.json, which does not exist/,
      );
      assertRefused(
        await run("job", ["submit", "--synchronous", "--local-steps", "4", "--optimizer", "sgd"], {
          ARTHA_PRIVATE_KEY: KEY,
          ARTHA_ADDRESSES: `${dir}/none.json`,
        }, dir),
        /--local-steps must be 1 \(or left out\) with --synchronous/,
        /--optimizer cannot be set with --synchronous/,
      );
      assertRefused(
        await run(
          "job",
          [
            "submit",
            "--redundancy",
            "2",
            "--codec",
            "int8",
            "--challenge-rate",
            "2",
            "--sample-rate",
            "0.005",
          ],
          { ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: `${dir}/none.json` },
          dir,
        ),
        /--challenge-rate must be a number in \[0, 1\], got 2/,
        /--sample-rate must be 0 or in \[0\.01, 0\.05\], got 0\.005/,
        /--codec must be fp32 or partition with --redundancy above 1, got int8/,
      );
      assertRefused(
        await run("job", ["frobnicate"], {}, dir),
        /must be submit, status, model or cancel/,
      );
      assertRefused(
        await run("job", ["cancel", "0x12"], { ARTHA_ADDRESSES: `${dir}/none.json` }, dir),
        /0x12 is not expected here \(a job id is 0x and 64 hex digits/,
        /ARTHA_PRIVATE_KEY/,
      );
      assertRefused(
        await run("chain", [], { ARTHA_RPC_URL: "https://rpc.example.org" }, dir),
        /ARTHA_RPC_URL is https:\/\/rpc.example.org, not a 127.0.0.1 URL/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "preflight: the chain's id, reachability and contracts are checked before anything",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await scratch("preflight-");
    await using net = await startDevnet({ accounts: 1 });
    // Addresses with no code on this chain (nothing is deployed).
    const file = `${dir}/addresses.json`;
    const empty = Object.fromEntries(
      ALL_CONTRACTS.map((c, i) => [c, `0x${"0".repeat(39)}${i + 1}`]),
    );
    await Deno.writeTextFile(file, JSON.stringify(empty));
    const base = { ARTHA_RPC_URL: net.rpcUrl, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: file };
    try {
      await t.step(
        "a wrong ARTHA_CHAIN_ID names both chain ids (worker and coordinator)",
        async () => {
          for (const program of ["worker", "serve"]) {
            const r = await run(program, [], { ...base, ARTHA_CHAIN_ID: "1" }, dir);
            assertRefused(
              r,
              new RegExp(`chain at ${net.rpcUrl}: its chain id is 31337, but ARTHA_CHAIN_ID is 1`),
            );
          }
          assertRefused(
            await run("worker", ["--chain-id", "5"], base, dir),
            /its chain id is 31337, but --chain-id is 5/,
          );
        },
      );

      await t.step("an unreachable RPC is named with its variable", async () => {
        const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const closed = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
        l.close();
        const r = await run("serve", [], { ...base, ARTHA_RPC_URL: closed }, dir);
        // Two retries are printed while it waits; the last line is the refusal.
        assert.equal(r.code, 2);
        const last = r.stderr.split("\n").at(-1)!;
        assert.match(last, new RegExp(`Cannot reach the chain at ${closed} \\(ARTHA_RPC_URL\\)`));
        assert.match(last, /deno task chain/);
      });

      await t.step("serve on an address in use: one line naming it, exit 2", async () => {
        const deployed = `${dir}/deployed.json`;
        await deployNetwork({
          rpcUrl: net.rpcUrl,
          chainId: net.chainId,
          names: { rpcUrl: "ARTHA_RPC_URL", chainId: "ARTHA_CHAIN_ID" },
          privateKey: KEY,
          out: deployed,
          coordinators: [],
        });
        using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const address = `tcp:127.0.0.1:${(busy.addr as Deno.NetAddr).port}`;
        const r = await run("serve", [], {
          ...base,
          ARTHA_ADDRESSES: deployed,
          ARTHA_CRON: "off",
          DENO_SERVE_ADDRESS: address,
        }, dir);
        assertRefused(
          r,
          new RegExp(`${address} \\(DENO_SERVE_ADDRESS\\) is already in use`),
          /DENO_SERVE_ADDRESS=tcp:127.0.0.1:8788 deno task serve/,
        );
      });

      await t.step(
        "a coordinator key with no funds and no authorisation is warned about",
        async () => {
          // Found walking through the README as a new user: it listened as if all were well, and
          // only a job's submit said why nothing moved. (The busy address ends the run.)
          using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          const address = `tcp:127.0.0.1:${(busy.addr as Deno.NetAddr).port}`;
          const stranger = `0x${"11".repeat(32)}`;
          const r = await run("serve", [], {
            ...base,
            ARTHA_PRIVATE_KEY: stranger,
            ARTHA_ADDRESSES: `${dir}/deployed.json`,
            ARTHA_CRON: "off",
            DENO_SERVE_ADDRESS: address,
          }, dir);
          assert.match(r.stderr, /warning: the coordinator's account 0x\S+ has no funds for gas/);
          assert.match(r.stderr, /is not an authorised coordinator of AIJobManager/);
        },
      );

      await t.step("addresses without contracts on this chain", async () => {
        const r = await run("worker", [], base, dir);
        assertRefused(r, /has no contract at registry 0x0+1/, /deno task deploy/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("--help prints the command's usage and flags and exits 0, whatever else is given", async (t) => {
  // Found in a new user's walkthrough: every command answered `--help` with "is not a flag"
  // and exit 2, and the only usage was the comment at the top of its source file.
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string[], RegExp][] = [
      ["demo", ["--help"], /^The main job on one machine[\s\S]*deno task demo --nodes 1000/],
      ["worker", ["--rounds", "x", "-h"], /^The ArthaTrain worker[\s\S]*--max-stake/],
      ["job", ["submit", "--help"], /^The job owner's command[\s\S]*deno task job submit/],
      ["deploy", ["--help"], /^Deploys the ArthaTrain contracts/],
      ["infer", ["--help"], /^Embedded inference/],
    ];
    for (const [program, args, usage] of cases) {
      await t.step(`${program} ${args.join(" ")}`, async () => {
        const r = await run(program, args, {}, dir);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, usage);
        assert.match(r.stdout, /\nflags: --/);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
