/**
 * A dealer's ShareKeys with its shares moved off their polynomial: one byte of each share of
 * `kind` flipped, resealed and redigested, so every receiver opens its share and every reveal
 * passes its digest check, but the secret t of them rebuild is not the one the dealer holds.
 * Shared by the protocol's test (inconsistent_shares_test.ts) and the coordinator's
 * (tests/functions/secure_round_test.ts).
 */
import { openSealed, seal } from "../../../../lib/crypto/aead.ts";
import { bytesToHex, hexToBytes } from "../../../../lib/crypto/digest.ts";
import type { ShareKeys } from "../../../../lib/privacy/secure_aggregation/messages.ts";
import { keyPairFromSecret, shareKey } from "../../../../lib/privacy/secure_aggregation/_keys.ts";
import {
  decodeSharePlaintext,
  encodeSharePlaintext,
  shareAad,
  shareDigest,
} from "../../../../lib/privacy/secure_aggregation/_wire.ts";

/** What resealing a dealer's shares takes: its c key's secret and its neighbours' c keys. */
export interface Dealer {
  id: string;
  context: string;
  /** The dealer's c^SK (its client's first 32 random bytes). */
  cSecret: Uint8Array;
  /** Each neighbour's advertised c^PK. */
  cPk: ReadonlyMap<string, string>;
}

/** `msg` with one byte of each of the dealer's `kind` shares flipped, resealed and redigested. */
export async function offPolynomial(
  msg: ShareKeys,
  dealer: Dealer,
  kind: "b" | "sk",
): Promise<ShareKeys> {
  const own = await keyPairFromSecret(dealer.cSecret);
  const shares = [];
  for (const s of msg.shares) {
    const pair = {
      peerPublicKey: hexToBytes(dealer.cPk.get(s.to)!),
      context: dealer.context,
      ids: [dealer.id, s.to],
    };
    const channel = await shareKey(own.privateKey, pair as never);
    const aad = shareAad(dealer.context, dealer.id, s.to);
    const p = decodeSharePlaintext(openSealed(channel, hexToBytes(s.ciphertext), aad))!;
    (kind === "b" ? p.bShare : p.skShare)[32]! ^= 1;
    shares.push({
      ...s,
      ciphertext: bytesToHex(seal(channel, encodeSharePlaintext(p.bShare, p.skShare), aad)),
      bDigest: shareDigest(dealer.context, dealer.id, s.to, "b", p.bShare),
      skDigest: shareDigest(dealer.context, dealer.id, s.to, "sk", p.skShare),
    });
  }
  return { ...msg, shares };
}
