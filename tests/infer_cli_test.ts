/**
 * `deno task infer` errors are one line naming what failed, exit status 2, never a stack trace:
 * a CID that is not one, a model that is nowhere, a folder that is no model, a gateway that is down.
 */
import assert from "node:assert/strict";

async function infer(...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "infer.ts", ...args, "The jury said"],
    cwd: new URL("../", import.meta.url),
    env: { ARTHA_STORE_DIR: "/nonexistent-artha-store" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

Deno.test("infer CLI: user errors are one clear line", async (t) => {
  const empty = await Deno.makeTempDir({ prefix: "artha-not-a-model-" });
  try {
    const cases: [string[], RegExp][] = [
      [["--model", "notacid"], /^Cannot load model notacid: Cannot parse CID/],
      [
        ["--model", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"],
        /^Cannot load model bafk\S+: .*give a store directory or a gateway/,
      ],
      [["--model", empty], /^Cannot load model .*artha-not-a-model-/],
      [
        [
          "--model",
          "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
          "--gateway",
          "http://127.0.0.1:59999",
        ],
        /^Cannot load model bafk\S+: Cannot reach the gateway http:\/\/127\.0\.0\.1:59999/,
      ],
    ];
    for (const [args, expected] of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stderr } = await infer(...args);
        assert.equal(code, 2);
        assert.equal(stderr.split("\n").length, 1, stderr);
        assert.match(stderr, expected);
      });
    }
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
