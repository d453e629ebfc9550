/**
 * Every user entry point runs with the least Deno permissions it needs (issue 14): no task a
 * user runs has `-A`/`--allow-all`, and reads, writes and FFI are scoped to folders. What stays
 * unscoped is listed below with the reason, and README's "Permissions of each entry point" says
 * the same; a new unscoped flag fails here until it is argued for.
 */
import assert from "node:assert/strict";

const config = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
) as { tasks: Record<string, string> };

/** The tasks a user runs (tests and benchmarks keep -A). */
const ENTRY_POINTS = [
  "demo",
  "serve",
  "chain",
  "deploy",
  "job",
  "infer",
  "worker",
  "dataset",
  "train",
];

/**
 * The only unscoped flags, and why (README says the same). Every other flag names what it
 * allows: reads and writes the project folder or its data folders, FFI node_modules (the
 * onnxruntime-node binding), the environment the variables lib/config.ts reads.
 */
const UNSCOPED: Record<string, Record<string, string>> = {
  demo: {
    "--allow-run": "anvil's binary is under node_modules/.deno/<package>@<version>/ and differs " +
      "per platform (or is ANVIL_BIN); --browsers runs a Chromium driver",
  },
  chain: { "--allow-run": "anvil, found as in the demo" },
  worker: {
    "--allow-run": "the launcher's only right besides reading the project: it relaunches " +
      "itself under computed permissions (lib/worker/sandbox.ts), which needs the run right",
  },
  serve: {
    "--allow-net":
      "it listens where DENO_SERVE_ADDRESS says and calls the chain at ARTHA_RPC_URL, " +
      "any host",
  },
  deploy: { "--allow-net": "the chain is ARTHA_RPC_URL or --rpc, any host" },
  job: { "--allow-net": "the coordinator and the chain are any hosts (--coordinator, --rpc)" },
  infer: { "--allow-net": "the gateway is any host (--gateway, ARTHA_GATEWAY)" },
  dataset: { "--allow-net": "the chain and the gateway are any hosts (--rpc, --gateway)" },
};

/** The permission flags of a task's `deno run`/`deno serve` command. */
function permissionFlags(task: string): string[] {
  const command = task.split("&&").map((c) => c.trim()).find((c) => /^deno (run|serve)\b/.test(c));
  assert.ok(command, `a deno run or deno serve command in: ${task}`);
  return command.split(/\s+/).map((w) => w.replace(/^'|'$/g, "")).filter((w) =>
    w === "-A" || w.startsWith("--allow-")
  );
}

Deno.test("user entry points: no -A, files and FFI scoped, exceptions argued", async (t) => {
  for (const name of ENTRY_POINTS) {
    await t.step(name, () => {
      const task = config.tasks[name];
      assert.ok(task, `deno.json has a ${name} task`);
      const flags = permissionFlags(task);
      assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), `${name}: ${task}`);
      const unscoped = flags.filter((f) => !f.includes("="));
      const allowed = Object.keys(UNSCOPED[name] ?? {});
      for (const flag of unscoped) {
        assert.ok(allowed.includes(flag), `${name}: ${flag} is unscoped and not argued for`);
      }
      // Reads and writes never reach the whole disk or the home directory.
      for (const flag of flags.filter((f) => /^--allow-(read|write)=/.test(f))) {
        for (const path of flag.split("=")[1]!.split(",")) {
          assert.ok(!["/", "~", "$HOME", "${HOME}"].includes(path), `${name}: ${flag}`);
        }
      }
      // An exception that no longer applies is stale: drop it.
      for (const flag of allowed) assert.ok(unscoped.includes(flag), `${name}: stale ${flag}`);
    });
  }
});
