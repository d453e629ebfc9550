import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Gas bound of NodeCertRegistry.registerNode: ~450k with its on-chain Ed25519 check (bench
 * `bench:gas`), with room for a long region string. Known, so no estimate runs the costly check
 * a second time.
 */
export const REGISTER_NODE_GAS = 800_000n;

export interface RegisterNodeParameters {
  addresses: ArthaAddresses;
  /** Ed25519 public key of the node (bytes32). */
  nodePubkey: Hex;
  /** NodeRole value (see contracts.ts). */
  role: number;
  region: string;
  /** Capability word from encodeCaps. */
  caps: Hex;
  slaId: Hex;
  /** Stake in wei; defaults to the role's required stake. */
  stake?: bigint;
  /** The node key's Ed25519 signature over its binding to the client's account at nonce
   * `bindingNonce` (lib/crypto/keys.ts signBinding), checked on chain. */
  bindingSignature: Hex;
}

/**
 * Registers a node with stake from the client's account (the operator). The registry checks
 * the node key's binding signature on chain (Ed25519 over the EIP-712 NodeBinding), so only the
 * key's holder can register it.
 */
export async function registerNode(
  client: ArthaClient,
  params: RegisterNodeParameters,
): Promise<SendResult & { stake: bigint }> {
  const { addresses, nodePubkey, role, region, caps, slaId } = params;
  const stake = params.stake ?? await client.readContract({
    address: addresses.registry,
    abi: abis.registry,
    functionName: "requiredStake",
    args: [role],
  });
  const sent = await sendContract(client, {
    address: addresses.registry,
    abi: abis.registry,
    functionName: "registerNode",
    args: [nodePubkey, role, region, caps, slaId, params.bindingSignature],
    value: stake,
    gas: REGISTER_NODE_GAS,
  });
  return { ...sent, stake };
}

/** The nonce the next binding of `operator` must sign: how many nodes it registered. */
export async function bindingNonce(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; operator: Hex },
): Promise<bigint> {
  const nodes = await client.readContract({
    address: params.addresses.registry,
    abi: abis.registry,
    functionName: "nodesOf",
    args: [params.operator],
  });
  return BigInt(nodes.length);
}
