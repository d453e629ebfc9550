/**
 * Runs forge's invariant tests (tests/contracts/forge/*.t.sol) offline, a few seeds in a row, and
 * fails with forge's output when forge fails. forge comes from npm:@foundry-rs/forge (the platform
 * package under node_modules, or $FORGE_BIN); its solc is scripts/solc_shim.sh, i.e. solc-js on
 * this Deno (foundry.toml), so nothing is downloaded.
 *
 * Knobs (environment): FORGE_SEEDS="1,2,3" (fuzz seeds), FOUNDRY_INVARIANT_RUNS and
 * FOUNDRY_INVARIANT_DEPTH (forge's own; foundry.toml has 50 x 200 = 10,000 calls a seed;
 * Protocol.invariant.t.sol sets its own 20 x 500 inline, longer runs so jobs live to settlement).
 *
 * The protocol-wide test prints a call summary (`forge test -vv`): how often each handler path
 * was taken over the campaign. Paths marked `*` must have been taken, or the campaign proved
 * nothing about them; the summary is printed here for every seed.
 * By hand, from the repo root (the shim runs $ARTHA_DENO, else `deno` on PATH, else npx's Deno):
 *
 *   node_modules/.deno/@foundry-rs+forge-linux-amd64@1.7.1/node_modules/@foundry-rs/\
 *   forge-linux-amd64/bin/forge test --offline --contracts tests/contracts/forge --fuzz-seed 1
 */
import assert from "node:assert/strict";
import { findForge, forge, FORGE_DIR } from "../../scripts/forge.ts";

/** One counter of the protocol invariant's call summary. */
export interface SummaryLine {
  name: string;
  value: number;
  required: boolean;
}

/**
 * The protocol invariant's call summary in forge's output: the lines after
 * `protocol invariant: runs so far N` (the last print is the whole campaign's), each
 * `[*] name value`, `*` marking a path the campaign must take.
 */
export function protocolSummary(output: string): { runs: number; lines: SummaryLine[] } | null {
  const start = output.lastIndexOf("protocol invariant: runs so far");
  if (start < 0) return null;
  const [head, ...rest] = output.slice(start).split("\n");
  const runs = Number(head?.match(/runs so far (\d+)/)?.[1] ?? "0");
  const lines: SummaryLine[] = [];
  for (const line of rest) {
    const m = line.match(/^\s+(\*\s+)?([\w.]+) (\d+)$/);
    if (!m) break;
    lines.push({ name: m[2] ?? "", value: Number(m[3]), required: m[1] !== undefined });
  }
  return { runs, lines };
}

function seeds(): string[] {
  const raw = Deno.env.get("FORGE_SEEDS") ?? "1,2,3";
  return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

Deno.test("forge invariant tests (offline, solc-js shim)", async (t) => {
  const bin = await findForge();
  const common = ["--offline", "--contracts", FORGE_DIR];

  await t.step("compile through the solc shim", async () => {
    const { ok, output } = await forge(bin, ["build", ...common]);
    assert.ok(ok, `forge build failed:\n${output}`);
  });

  for (const seed of seeds()) {
    await t.step(`forge test --fuzz-seed ${seed}`, async () => {
      const { ok, output } = await forge(bin, ["test", ...common, "--fuzz-seed", seed, "-vv"]);
      assert.ok(ok, `forge test --fuzz-seed ${seed} failed:\n${output}`);
      assert.match(
        output,
        /\[PASS\] invariant_\w+\(\) \(runs: [1-9]/,
        `no invariant ran:\n${output}`,
      );
      const summary = protocolSummary(output);
      if (output.includes("ProtocolInvariantTest")) {
        assert.ok(summary, `no call summary from the protocol invariant:\n${output}`);
        const missed = summary.lines.filter((l) => l.required && l.value === 0).map((l) => l.name);
        assert.ok(summary.runs > 0 && summary.lines.length > 0, `empty call summary:\n${output}`);
        assert.deepEqual(missed, [], `protocol invariant never exercised ${missed.join(", ")}`);
        const calls = output.match(/invariant_protocol\(\) \(runs: \d+, calls: (\d+)/)?.[1];
        console.log(
          `    protocol invariant, seed ${seed}: ${calls ?? "?"} calls, ` +
            summary.lines.map((l) => `${l.name}=${l.value}`).join(" "),
        );
      }
    });
  }
});
