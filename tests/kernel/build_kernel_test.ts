import assert from "node:assert/strict";
import { compileKernel, WASM_PATH } from "../../scripts/build_kernel.ts";

Deno.test("committed kernel.wasm is byte-identical to a rebuild; no fused or relaxed ops", async () => {
  const { wasm, text } = await compileKernel({ text: true });
  const committed = await Deno.readFile(new URL(`../../${WASM_PATH}`, import.meta.url));
  assert.deepEqual(wasm, committed, "run `deno task build:kernel`");
  assert.ok(text && text.includes("f32x4.mul"), "expected SIMD code");
  assert.doesNotMatch(text, /relaxed|madd|fma/i);
});
