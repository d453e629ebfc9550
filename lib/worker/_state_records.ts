/**
 * The names and encodings of the records a worker's state keeps beside its state file (private
 * to ./state.ts): residuals, a commit's update bytes and step records, masked-input records.
 *
 * @example
 * ```ts ignore
 * import { updateName } from "./_state_records.ts";
 * console.assert(updateName("0xAB", 3) === "update.0xab.3");
 * ```
 */
import type { Hex } from "viem";
import { bytesToHex, hexToBytes } from "../crypto/digest.ts";
import type { ErrorFeedbackState } from "../compress/codec.ts";

/** A commit's step records and digests (SavedCommit's, declared here so ./state.ts imports this
 * module without a cycle). */
export interface CommitSteps {
  stepRecords?: Hex;
  stepDigests?: Hex[];
}

/** What reading a record needs of a StateStorage. */
interface RecordReader {
  read(name: string): Promise<Uint8Array | undefined>;
  where(name: string): string;
}

/**
 * Residual records sit beside the state: `<jobId>.residual` is the input of the next round,
 * `.next` the one staged with a pending update (raw f32, one per parameter).
 */
export function residualName(jobId: string, staged = false): string {
  return `${jobId.toLowerCase()}.residual${staged ? ".next" : ""}`;
}

/** The record of the bytes a commit's gradientDigest covers: `update.<jobId>.<round>`. */
export function updateName(jobId: string, round: number): string {
  return `update.${jobId.toLowerCase()}.${round}`;
}

/** The record of a commit's step records and digests: `steps.<jobId>.<round>`. */
export function stepsName(jobId: string, round: number): string {
  return `steps.${jobId.toLowerCase()}.${round}`;
}

/**
 * Step records and digests as one record: the records' length (u32), the records, then the
 * digests (32 bytes each); undefined when there are neither.
 */
export function encodeSteps(records?: Hex, digests?: Hex[]): Uint8Array | undefined {
  if (records === undefined && digests === undefined) return undefined;
  const r = records === undefined ? undefined : hexToBytes(records);
  const n = digests?.length ?? 0;
  const out = new Uint8Array(9 + (r?.length ?? 0) + 32 * n);
  const view = new DataView(out.buffer);
  out[0] = (r ? 1 : 0) | (digests ? 2 : 0);
  view.setUint32(1, r?.length ?? 0);
  if (r) out.set(r, 5);
  const at = 5 + (r?.length ?? 0);
  view.setUint32(at, n);
  digests?.forEach((d, i) => out.set(hexToBytes(d), at + 4 + 32 * i));
  return out;
}

/** The inverse of {@link encodeSteps}. */
export function decodeSteps(bytes: Uint8Array): CommitSteps {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(1);
  const at = 5 + length;
  const n = view.getUint32(at);
  const out: CommitSteps = {};
  if (bytes[0]! & 1) out.stepRecords = bytesToHex(bytes.subarray(5, at));
  if (bytes[0]! & 2) {
    out.stepDigests = Array.from(
      { length: n },
      (_, i) => bytesToHex(bytes.subarray(at + 4 + 32 * i, at + 36 + 32 * i)),
    );
  }
  return out;
}

/** The record of the job's last masked input sent, beside the state: `<jobId>.secagg`. */
export function maskedName(jobId: string): string {
  return `${jobId.toLowerCase()}.secagg`;
}

/** A residual record of a `length`-parameter model, or undefined when there is none. */
export async function readResidual(
  storage: RecordReader,
  name: string,
  length: number,
): Promise<ErrorFeedbackState | undefined> {
  const bytes = await storage.read(name);
  if (!bytes) return undefined;
  if (bytes.length !== 4 * length) {
    throw new Error(
      `Cannot read residual ${storage.where(name)}: ${bytes.length} bytes, the model has ` +
        `${length} parameters; delete it to start over`,
    );
  }
  // A copy keeps the view aligned whatever buffer the storage handed back.
  return { residual: new Float32Array(bytes.slice().buffer, 0, length) };
}
