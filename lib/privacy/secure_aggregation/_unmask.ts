/**
 * The server's last step: rebuild the secrets the Unmasking answers allow and strip the masks
 * that do not cancel from the ring sum of the masked inputs.
 *
 * - For each survivor u: rebuild b_u from t shares and subtract PRG(b_u).
 * - For each dropped client d: rebuild s_d^SK from t shares, check it against the advertised
 *   s_d^PK, and for each surviving partner v remove the pairwise mask v added for d.
 * Pairwise masks between two survivors cancel on their own.
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes } from "../../crypto/digest.ts";
import { selfMaskCommit } from "./_wire.ts";
import { addMask, subtractMask } from "./prg.ts";
import { combineBytes } from "./shamir.ts";
import type { SecAggParams } from "./params.ts";
import { keyPairFromSecret, pairMaskSeed } from "./_keys.ts";
import { InvalidShareError, TooFewSharesError } from "./errors.ts";

/** Shares collected per client whose secret is needed. */
export type ShareBook = Map<string, { x: number; share: Uint8Array }[]>;

/** What the server knows when Unmasking closes. */
export interface UnmaskInputs {
  params: SecAggParams;
  /** Ring sum of the survivors' masked inputs. */
  sum: Uint32Array;
  survivors: readonly string[];
  dropped: readonly string[];
  /** Each U2 client's mask partners. */
  partners: ReadonlyMap<string, readonly string[]>;
  /** Advertised s^PK of each client. */
  sPk: ReadonlyMap<string, Uint8Array>;
  /** Each client's commitment to its self-mask seed b (ShareKeys). */
  bCommits: ReadonlyMap<string, Hex>;
  selfMaskShares: ShareBook;
  maskKeyShares: ShareBook;
}

/** Throws TooFewSharesError before touching anything when some secret cannot be rebuilt. */
export function checkShareCounts(inputs: UnmaskInputs): void {
  const { threshold } = inputs.params;
  const need = (client: string, kind: "self-mask" | "mask-key", book: ShareBook) => {
    const shares = book.get(client)?.length ?? 0;
    if (shares < threshold) {
      throw new TooFewSharesError({ client, kind, shares, needed: threshold });
    }
  };
  for (const u of inputs.survivors) need(u, "self-mask", inputs.selfMaskShares);
  for (const d of inputs.dropped) {
    if (livePartners(inputs, d).length > 0) need(d, "mask-key", inputs.maskKeyShares);
  }
}

/** A copy of the ring sum with every non-cancelling mask removed. */
export async function unmaskSum(inputs: UnmaskInputs): Promise<Uint32Array> {
  checkShareCounts(inputs);
  const sum = inputs.sum.slice();
  for (const u of inputs.survivors) {
    const b = rebuild(inputs, u, inputs.selfMaskShares);
    // The shares matched their digests (revealed shares are checked), so a b its sender did not
    // commit to is the sender's doing: named, never a sum of noise.
    if (selfMaskCommit(inputs.params.context, u, b) !== inputs.bCommits.get(u)) {
      throw new InvalidShareError({ client: u, reason: "rebuilt b does not match its commitment" });
    }
    await subtractMask(sum, b);
  }
  for (const d of inputs.dropped) await removeDroppedMasks(inputs, sum, d);
  return sum;
}

async function removeDroppedMasks(inputs: UnmaskInputs, sum: Uint32Array, d: string) {
  const live = livePartners(inputs, d);
  if (live.length === 0) return;
  const { params, sPk } = inputs;
  const keys = await keyPairFromSecret(rebuild(inputs, d, inputs.maskKeyShares));
  // A wrong share rebuilds a wrong key: catch it here rather than return a garbage sum.
  if (bytesToHex(keys.publicKey) !== bytesToHex(sPk.get(d)!)) {
    throw new InvalidShareError({ client: d, reason: "rebuilt s^SK does not match s^PK" });
  }
  const di = params.index.get(d)!;
  for (const v of live) {
    const pair = { peerPublicKey: sPk.get(v)!, context: params.context, ids: [d, v] } as const;
    const seed = await pairMaskSeed(keys.privateKey, pair);
    // v added +PRG when it precedes d in the roster, -PRG otherwise; undo that.
    await (params.index.get(v)! < di ? subtractMask : addMask)(sum, seed);
  }
}

function rebuild(inputs: UnmaskInputs, client: string, book: ShareBook): Uint8Array {
  try {
    return combineBytes(book.get(client)!, { threshold: inputs.params.threshold });
  } catch (cause) {
    throw new InvalidShareError({ client, reason: "shares rebuild no 32-byte secret" }, { cause });
  }
}

function livePartners(inputs: UnmaskInputs, d: string): string[] {
  const alive = new Set(inputs.survivors);
  return (inputs.partners.get(d) ?? []).filter((v) => alive.has(v));
}

/** Decodes 0x hex shares into the book entry of `of`. */
export function addShare(book: ShareBook, of: string, x: number, share: string): void {
  const list = book.get(of) ?? [];
  list.push({ x, share: hexToBytes(share) });
  book.set(of, list);
}
