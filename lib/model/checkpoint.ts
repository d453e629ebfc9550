/**
 * Model checkpoints and updates as safetensors: one tensor per named view of the kernel's flat
 * parameter buffer, the model configuration in `__metadata__`. Canonical header order keeps the
 * bytes, and so the CID and keccak digest, stable for equal weights.
 *
 * @example
 * ```ts
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size).fill(0.5);
 * const back = decodeCheckpoint(encodeCheckpoint(config, weights, { round: "3" }));
 * console.assert(back.weights[0] === 0.5 && back.metadata.round === "3");
 * ```
 */
import { type ModelConfig, paramLayout } from "../../kernel/params.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsChunks,
  SafetensorsError,
  type TensorInput,
  toFloat32,
} from "./tensors.ts";

export interface Checkpoint {
  config: ModelConfig;
  weights: Float32Array;
  metadata: Record<string, string>;
}

/** Encodes a flat parameter buffer as safetensors with the model config in the metadata. */
export function encodeCheckpoint(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
): Uint8Array {
  return encodeSafetensors(...checkpointTensors(config, weights, metadata));
}

/**
 * The bytes of {@link encodeCheckpoint} as a header chunk and views of `weights`, nothing
 * copied: what a 500 MB checkpoint is streamed into SVDB (`store.put` takes chunks) or a file
 * from, rather than held twice. The views alias `weights`; write them before it changes.
 *
 * @example
 * ```ts
 * import { encodeCheckpoint, encodeCheckpointChunks } from "./checkpoint.ts";
 * import { paramLayout } from "../../kernel/params.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const weights = new Float32Array(paramLayout(config).size).fill(0.5);
 * const { byteLength } = encodeCheckpointChunks(config, weights);
 * console.assert(byteLength === encodeCheckpoint(config, weights).length);
 * ```
 */
export function encodeCheckpointChunks(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string> = {},
): { chunks: Uint8Array[]; byteLength: number } {
  return encodeSafetensorsChunks(...checkpointTensors(config, weights, metadata));
}

function checkpointTensors(
  config: ModelConfig,
  weights: Float32Array,
  metadata: Record<string, string>,
): [Record<string, TensorInput>, { metadata: Record<string, string> }] {
  const layout = paramLayout(config);
  if (weights.length !== layout.size) {
    throw new RangeError(
      `Cannot encode checkpoint: ${weights.length} values, the model has ${layout.size}`,
    );
  }
  const tensors = Object.fromEntries(layout.tensors.map((t) => [t.name, {
    shape: t.shape,
    data: weights.subarray(t.offset, t.offset + t.size),
  }]));
  return [tensors, { metadata: { ...metadata, "artha.model": JSON.stringify(config) } }];
}

/** Decodes a checkpoint written by encodeCheckpoint back into a flat buffer. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const file = decodeSafetensors(bytes);
  const configText = file.metadata["artha.model"];
  if (!configText) {
    throw new SafetensorsError(
      "Cannot read checkpoint: no artha.model metadata; write it with encodeCheckpoint",
    );
  }
  let config: ModelConfig;
  try {
    config = JSON.parse(configText);
  } catch (cause) {
    throw new SafetensorsError("Cannot read checkpoint: artha.model metadata is not JSON", {
      cause,
    });
  }
  let layout;
  try {
    layout = paramLayout(config);
  } catch (cause) {
    throw new SafetensorsError(`Cannot read checkpoint: ${(cause as Error).message}`, { cause });
  }
  // Every tensor is checked against the file before the weights are allocated: the header's
  // config alone must not make a few bytes cost the layout's whole size.
  for (const t of layout.tensors) {
    const tensor = file.tensors[t.name];
    if (!tensor) throw new SafetensorsError(`Cannot read checkpoint: tensor ${t.name} is missing`);
    const values = tensor.shape.reduce((a, b) => a * b, 1);
    if (values !== t.size) {
      throw new SafetensorsError(
        `Cannot read checkpoint: tensor ${t.name} has ${values} values, expected ${t.size}`,
      );
    }
  }
  const weights = new Float32Array(layout.size);
  for (const t of layout.tensors) {
    const tensor = file.tensors[t.name]!;
    // f32 bytes go straight into place (one copy, any alignment); other dtypes convert.
    if (tensor.dtype === "F32") {
      new Uint8Array(weights.buffer, t.offset * 4, t.size * 4).set(tensor.bytes);
    } else weights.set(toFloat32(tensor), t.offset);
  }
  const { "artha.model": _, ...metadata } = file.metadata;
  return { config, weights, metadata };
}
