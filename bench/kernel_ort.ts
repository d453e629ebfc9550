/**
 * onnxruntime-web baseline for bench/kernel.ts: a one-node ONNX MatMul model, hand-encoded as
 * protobuf (the few fields of onnx.proto it needs), run on ORT's wasm backend with 1 thread.
 */
import * as ort from "onnxruntime-web";

class Pb {
  #out: number[] = [];
  varint(n: number): this {
    while (n > 127) {
      this.#out.push((n & 127) | 128);
      n = Math.floor(n / 128);
    }
    this.#out.push(n);
    return this;
  }
  int(field: number, n: number): this {
    return this.varint(field << 3).varint(n);
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint((field << 3) | 2).varint(b.length);
    for (const x of b) this.#out.push(x);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.done());
  }
  done(): Uint8Array {
    return Uint8Array.from(this.#out);
  }
}

const FLOAT = 1;

function valueInfo(name: string, dims: number[]): Pb {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, new Pb().int(1, d));
  const tensor = new Pb().int(1, FLOAT).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensor));
}

/** ONNX bytes for Y (M,N) = A (M,K) @ B (K,N); B is a graph input, or a constant if given. */
export function matmulModel(M: number, K: number, N: number, constB?: Float32Array): Uint8Array {
  const node = new Pb().str(1, "A").str(1, "B").str(2, "Y").str(3, "mm").str(4, "MatMul");
  const graph = new Pb().msg(1, node).str(2, "matmul").msg(11, valueInfo("A", [M, K]));
  if (constB) {
    const t = new Pb().int(1, K).int(1, N).int(2, FLOAT).str(8, "B");
    t.bytes(9, new Uint8Array(constB.buffer, constB.byteOffset, constB.byteLength));
    graph.msg(5, t);
  } else {
    graph.msg(11, valueInfo("B", [K, N]));
  }
  graph.msg(12, valueInfo("Y", [M, N]));
  return new Pb().int(1, 8).str(2, "arthatrain-bench").msg(7, graph)
    .msg(8, new Pb().str(1, "").int(2, 17)).done();
}

/** Creates a single-threaded ORT wasm session running `matmulModel`. */
export async function ortMatmul(
  M: number,
  K: number,
  N: number,
  a: Float32Array,
  b: Float32Array,
  constB: boolean,
): Promise<{ run: () => Promise<Float32Array>; release: () => Promise<void> }> {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
  const session = await ort.InferenceSession.create(matmulModel(M, K, N, constB ? b : undefined), {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const feeds: Record<string, ort.Tensor> = { A: new ort.Tensor("float32", a, [M, K]) };
  if (!constB) feeds.B = new ort.Tensor("float32", b, [K, N]);
  return {
    run: async () => (await session.run(feeds)).Y!.data as Float32Array,
    release: () => session.release(),
  };
}
