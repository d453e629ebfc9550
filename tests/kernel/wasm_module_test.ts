import assert from "node:assert/strict";
import { Kernel, type KernelExports, loadKernel } from "../../kernel/wasm_module.ts";

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

Deno.test("allocator: a failed memory.grow leaves the allocator usable and unchanged", () => {
  // A memory of at most 2 pages stands in for the 4 GiB ceiling: the allocator only reads
  // `memory` (ops are never called), so no multi-GiB allocation is needed to hit the limit.
  const PAGE = 65536;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
  const k = new Kernel({ memory } as unknown as KernelExports);
  const a = k.alloc(PAGE / 8); // half a page: grows to 2 pages
  const used = k.bytesInUse;
  assert.throws(() => k.alloc(PAGE / 4), RangeError); // a whole page more: past the maximum
  assert.equal(k.bytesInUse, used, "the failed allocation moved the bump pointer");
  assert.equal(k.mark(), a + PAGE / 2);
  const b = k.alloc(PAGE / 16); // still fits in the 2 pages: must succeed
  assert.equal(b, a + PAGE / 2);
  assert.equal(memory.buffer.byteLength, 2 * PAGE);
});
