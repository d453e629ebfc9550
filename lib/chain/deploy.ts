/**
 * Deploys and wires the eight contracts: the registry reports slashes to reputation, proof of
 * compute may slash and update reputation, the job manager and proof of compute know each other.
 */
import type { Abi, Address, Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { nodeCertRegistryBytecode } from "../abi/NodeCertRegistry.ts";
import { reputationRegistryBytecode } from "../abi/ReputationRegistry.ts";
import { aiJobManagerBytecode } from "../abi/AIJobManager.ts";
import { proofOfComputeBytecode } from "../abi/ProofOfCompute.ts";
import { modelRegistryBytecode } from "../abi/ModelRegistry.ts";
import { arthaDIDRegistryBytecode } from "../abi/ArthaDIDRegistry.ts";
import { verificationManagerBytecode } from "../abi/VerificationManager.ts";
import { disputeGameBytecode } from "../abi/DisputeGame.ts";

export interface DeployOptions {
  /** Accounts allowed to assign jobs, close rounds, run verification and arbitrate disputes
   * (default: deployer). */
  coordinators?: Address[];
  /** Seconds between a job's last round and its settlement (ProofOfCompute.settlementDelay;
   * default: the contract's 1 hour). Tests that settle at once on a devnet pass 0. */
  settlementDelay?: number;
}

async function deployOne(client: ArthaClient, abi: Abi, bytecode: Hex): Promise<Address> {
  const hash = await client.deployContract({ abi, bytecode, args: [] });
  const receipt = await client.waitForTransactionReceipt({ hash });
  if (!receipt.contractAddress || receipt.status !== "success") {
    throw new Error(`Cannot deploy contract: transaction ${hash} ${receipt.status}`);
  }
  return receipt.contractAddress;
}

async function send(client: ArthaClient, hash: Promise<Hex>): Promise<void> {
  const receipt = await client.waitForTransactionReceipt({ hash: await hash });
  if (receipt.status !== "success") {
    throw new Error(`Cannot wire contracts: ${receipt.transactionHash} reverted`);
  }
}

/** Deploys NodeCertRegistry, ReputationRegistry, AIJobManager, ProofOfCompute, ModelRegistry and
 * ArthaDIDRegistry from `client`'s account and links them. */
export async function deployArtha(
  client: ArthaClient,
  options: DeployOptions = {},
): Promise<ArthaAddresses> {
  const a: ArthaAddresses = {
    registry: await deployOne(client, abis.registry, nodeCertRegistryBytecode),
    reputation: await deployOne(client, abis.reputation, reputationRegistryBytecode),
    jobs: await deployOne(client, abis.jobs, aiJobManagerBytecode),
    proofs: await deployOne(client, abis.proofs, proofOfComputeBytecode),
    models: await deployOne(client, abis.models, modelRegistryBytecode),
    dids: await deployOne(client, abis.dids, arthaDIDRegistryBytecode),
    verification: await deployOne(client, abis.verification, verificationManagerBytecode),
    disputes: await deployOne(client, abis.disputes, disputeGameBytecode),
  };
  await send(
    client,
    client.writeContract({
      address: a.registry,
      abi: abis.registry,
      functionName: "setReputation",
      args: [a.reputation],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.registry,
      abi: abis.registry,
      functionName: "setAuthorised",
      args: [a.proofs, true],
    }),
  );
  for (const updater of [a.registry, a.proofs, a.jobs]) {
    await send(
      client,
      client.writeContract({
        address: a.reputation,
        abi: abis.reputation,
        functionName: "setAuthorised",
        args: [updater, true],
      }),
    );
  }
  await send(
    client,
    client.writeContract({
      address: a.jobs,
      abi: abis.jobs,
      functionName: "setLinks",
      args: [a.registry, a.proofs],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.proofs,
      abi: abis.proofs,
      functionName: "setLinks",
      args: [a.jobs, a.registry, a.reputation],
    }),
  );
  // Verification: VerificationManager penalises through ProofOfCompute and reports proofs to
  // reputation; DisputeGame penalises through VerificationManager (offence escalation in one place).
  await send(
    client,
    client.writeContract({
      address: a.verification,
      abi: abis.verification,
      functionName: "setLinks",
      args: [a.proofs, a.registry, a.reputation],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.disputes,
      abi: abis.disputes,
      functionName: "setLinks",
      args: [a.proofs, a.registry, a.jobs, a.verification],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.proofs,
      abi: abis.proofs,
      functionName: "setAuthorised",
      args: [a.verification, true],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.reputation,
      abi: abis.reputation,
      functionName: "setAuthorised",
      args: [a.verification, true],
    }),
  );
  await send(
    client,
    client.writeContract({
      address: a.verification,
      abi: abis.verification,
      functionName: "setAuthorised",
      args: [a.disputes, true],
    }),
  );
  for (const coordinator of options.coordinators ?? []) {
    await send(
      client,
      client.writeContract({
        address: a.jobs,
        abi: abis.jobs,
        functionName: "setAuthorised",
        args: [coordinator, true],
      }),
    );
    await send(
      client,
      client.writeContract({
        address: a.proofs,
        abi: abis.proofs,
        functionName: "setAuthorised",
        args: [coordinator, true],
      }),
    );
    await send(
      client,
      client.writeContract({
        address: a.verification,
        abi: abis.verification,
        functionName: "setAuthorised",
        args: [coordinator, true],
      }),
    );
    await send(
      client,
      client.writeContract({
        address: a.disputes,
        abi: abis.disputes,
        functionName: "setAuthorised",
        args: [coordinator, true],
      }),
    );
  }
  if (options.settlementDelay !== undefined) {
    await send(
      client,
      client.writeContract({
        address: a.proofs,
        abi: abis.proofs,
        functionName: "setSettlementDelay",
        args: [BigInt(options.settlementDelay)],
      }),
    );
  }
  return a;
}
