import assert from "node:assert/strict";
import { loadKernel } from "../../kernel/wasm_module.ts";

Deno.test("the kernel module imports nothing from its host", async () => {
  const bytes = await Deno.readFile(
    new URL("../../kernel/wasm/build/kernel.wasm", import.meta.url),
  );
  assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(bytes)), []);
});

Deno.test("allocator: aligned pointers, memory growth keeps data, release reuses space", () => {
  const k = loadKernel();
  const a = k.alloc(3);
  assert.equal(a % 64, 0);
  k.f32(a, 3).set([1, 2, 3]);
  const pagesBefore = k.ops.memory.buffer.byteLength;
  const mark = k.mark();
  const big = k.alloc(4 << 20); // 16 MiB: forces memory.grow, which detaches old views
  assert.ok(k.ops.memory.buffer.byteLength > pagesBefore);
  assert.deepEqual([...k.f32(a, 3)], [1, 2, 3]);
  k.f32(big, 4 << 20)[(4 << 20) - 1] = 5;
  k.release(mark);
  assert.equal(k.alloc(1), big);
  assert.throws(() => k.alloc(-1), RangeError);
  assert.throws(() => k.release(1), RangeError);
});
