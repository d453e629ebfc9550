/**
 * Addresses and ABIs of the eight ArthaTrain contracts as one typed bundle.
 */
import type { Address } from "viem";
import { nodeCertRegistryAbi } from "../abi/NodeCertRegistry.ts";
import { reputationRegistryAbi } from "../abi/ReputationRegistry.ts";
import { aiJobManagerAbi } from "../abi/AIJobManager.ts";
import { proofOfComputeAbi } from "../abi/ProofOfCompute.ts";
import { modelRegistryAbi } from "../abi/ModelRegistry.ts";
import { arthaDIDRegistryAbi } from "../abi/ArthaDIDRegistry.ts";
import { verificationManagerAbi } from "../abi/VerificationManager.ts";
import { disputeGameAbi } from "../abi/DisputeGame.ts";

export const abis = {
  registry: nodeCertRegistryAbi,
  reputation: reputationRegistryAbi,
  jobs: aiJobManagerAbi,
  proofs: proofOfComputeAbi,
  models: modelRegistryAbi,
  dids: arthaDIDRegistryAbi,
  verification: verificationManagerAbi,
  disputes: disputeGameAbi,
} as const;

/** Where each contract lives. */
export interface ArthaAddresses {
  registry: Address;
  reputation: Address;
  jobs: Address;
  proofs: Address;
  models: Address;
  dids: Address;
  /** Challenges, gradient sampling, redundancy settlement, committees, spot checks. */
  verification: Address;
  /** Bisection disputes between nodes of one task group. */
  disputes: Address;
}

/** The Solidity enums (generated from the contracts by scripts/build_contracts.ts). */
export { JobStatus, NodeRole, SlashReason, Status as ChallengeStatus } from "../abi/enums.ts";
