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
   * (default: deployer, authorised like any other: the owner has no rights of its own). */
  coordinators?: Address[];
  /**
   * Accounts authorised on ProofOfCompute, NodeCertRegistry or ReputationRegistry beside the
   * contracts linked there, before those sets are fixed (a verifier of one's own; unit tests
   * stand in for VerificationManager this way). Default none.
   */
  authorised?: Partial<Record<FixedContract, Address[]>>;
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

/** One wiring call: a contract of the bundle, a setter and its arguments. */
type Wiring = [contract: keyof ArthaAddresses, functionName: string, args: readonly unknown[]];

/** Sends each wiring call in order, waiting for each receipt. */
async function wire(client: ArthaClient, a: ArthaAddresses, calls: Wiring[]): Promise<void> {
  for (const [contract, functionName, args] of calls) {
    const abi: Abi = abis[contract];
    // deno-lint-ignore no-explicit-any
    const request = { address: a[contract], abi, functionName, args } as any;
    await send(client, client.writeContract(request));
  }
}

/** The links between the contracts, in the order they are set. */
function links(a: ArthaAddresses): Wiring[] {
  return [
    ["registry", "setReputation", [a.reputation]],
    ["registry", "setAuthorised", [a.proofs, true]],
    ...[a.registry, a.proofs, a.jobs].map((
      u,
    ): Wiring => ["reputation", "setAuthorised", [u, true]]),
    ["jobs", "setLinks", [a.registry, a.proofs]],
    ["proofs", "setLinks", [a.jobs, a.registry, a.reputation]],
    // Verification: VerificationManager penalises through ProofOfCompute and reports proofs to
    // reputation; DisputeGame, linked to it, penalises through it (offence escalation in one
    // place; penaliseFor takes no other caller). Both open and close the cases a job's
    // settlement waits for on ProofOfCompute (DisputeGame calls nothing else there).
    ["verification", "setLinks", [a.proofs, a.registry, a.reputation, a.disputes]],
    ["disputes", "setLinks", [a.proofs, a.registry, a.jobs, a.verification]],
    ["proofs", "setAuthorised", [a.verification, true]],
    ["proofs", "setAuthorised", [a.disputes, true]],
    ["reputation", "setAuthorised", [a.verification, true]],
  ];
}

/** The contracts whose authorised set is fixed once wired. */
const fixedContracts = ["registry", "reputation", "proofs"] as const;
type FixedContract = typeof fixedContracts[number];

/**
 * What a coordinator account is authorised for: jobs, verification and disputes. Not
 * ProofOfCompute: its setQuality and penalise move rewards and stake, and reach it only through
 * VerificationManager's rules (redundancy, challenges, rejectAnswer, penaliseAggregator).
 */
function coordinatorRights(coordinator: Address): Wiring[] {
  const contracts = ["jobs", "verification", "disputes"] as const;
  return contracts.map((c): Wiring => [c, "setAuthorised", [coordinator, true]]);
}

/** Deploys the eight contracts from `client`'s account, links them and authorises the
 * coordinators. */
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
  await wire(client, a, links(a));
  const coordinators = options.coordinators ?? [client.account!.address];
  await wire(client, a, coordinators.flatMap(coordinatorRights));
  const extra = Object.entries(options.authorised ?? {}) as [FixedContract, Address[]][];
  await wire(
    client,
    a,
    extra.flatMap(([c, accounts]) => accounts.map((x): Wiring => [c, "setAuthorised", [x, true]])),
  );
  // What moves stake and rewards takes only the contracts just linked, for good: the owner key
  // (the coordinator's, by default) could otherwise authorise itself there (attacks 31).
  await wire(client, a, fixedContracts.map((c): Wiring => [c, "fixAuthorised", []]));
  if (options.settlementDelay !== undefined) {
    await wire(client, a, [["proofs", "setSettlementDelay", [BigInt(options.settlementDelay)]]]);
  }
  return a;
}
