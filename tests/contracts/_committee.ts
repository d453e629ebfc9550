/**
 * A TypeScript mirror of VerificationManager's committee draw (its `pickCommittee`, internal on
 * chain), so tests can say which committee a seed and weights give.
 */
import { encodeAbiParameters, type Hex, keccak256 } from "viem";

/** `size` distinct candidates of nonzero weight, drawn without replacement as the contract does. */
export function pickCommittee(
  seed: Hex,
  candidates: readonly Hex[],
  weights: readonly bigint[],
  size: number,
): Hex[] {
  const weight = [...weights];
  let total = weight.reduce((a, b) => a + b, 0n);
  const picked: Hex[] = [];
  while (picked.length < size && total > 0n) {
    let r = BigInt(
      keccak256(
        encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }], [
          seed,
          BigInt(picked.length),
        ]),
      ),
    ) % total;
    let i = 0;
    while (weight[i]! <= r) r -= weight[i++]!;
    picked.push(candidates[i]!);
    total -= weight[i]!;
    weight[i] = 0n;
  }
  return picked;
}

/** The committee seed of a round: its spot seed and the hash of the request's block. */
export function committeeSeed(spotSeed: Hex, requestBlockHash: Hex): Hex {
  return keccak256(
    encodeAbiParameters([{ type: "string" }, { type: "bytes32" }, { type: "bytes32" }], [
      "committee",
      spotSeed,
      requestBlockHash,
    ]),
  );
}
