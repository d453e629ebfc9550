/**
 * What tests on a bare devnet deployment share: a bound laptop node and the terms of a small job
 * (one node, steps of 32 samples budgeted at 6 s).
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import { type ArthaAddresses, NodeRole } from "../../../lib/chain/contracts.ts";
import { encodeCaps } from "../../../lib/chain/caps.ts";
import { registerNode } from "../../../lib/chain/register_node.ts";
import type { TrainJobTerms } from "../../../lib/chain/submit_train.ts";
import { generateNodeKey, signBinding } from "../../../lib/crypto/keys.ts";
import { LAPTOP_CAPS } from "../../../lib/worker/register.ts";

export const b32 = (fill: string): Hex => `0x${fill.repeat(64)}`;

/** Registers a fresh GPUProvider node with laptop caps under `op`; returns its public key. */
export async function registerDevnetNode(
  op: ArthaClient,
  addresses: ArthaAddresses,
): Promise<Hex> {
  const key = generateNodeKey();
  const binding = { chainId: op.chain.id, registry: addresses.registry, nonce: 0n };
  await registerNode(op, {
    addresses,
    nodePubkey: key.publicKeyHex,
    role: NodeRole.GPUProvider,
    region: "eu",
    caps: encodeCaps(LAPTOP_CAPS),
    slaId: b32("0"),
    bindingSignature: signBinding(key, { ...binding, operator: op.account.address }),
  });
  return key.publicKeyHex;
}

/** The terms of a one-node job of `rounds` rounds of `stepsPerRound` steps. */
export function devnetJobTerms(rounds: number, stepsPerRound = 4): TrainJobTerms {
  return {
    modelCid: "bafy-model",
    datasetCid: "bafy-data",
    paramsHash: b32("1"),
    rounds,
    nodesWanted: 1,
    redundancy: 1,
    baseRatePerSecond: 0n,
    targetImprovementBps: 0,
    stepsPerRound,
    samplesPerStep: 32,
    secondsPerStep: 6,
  };
}
