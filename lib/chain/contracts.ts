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

/** Node roles, in the order of the Solidity enum. */
export const NodeRole = { Basic: 0, GPUProvider: 1, TEE: 2, Priority: 3 } as const;
/** Slash reasons, in the order of the Solidity enum. */
export const SlashReason = {
  MissedHeartbeats: 0,
  FailedVerification: 1,
  FakeGradients: 2,
  Cheating: 3,
  FailedJob: 4,
} as const;
/** Job statuses, in the order of the Solidity enum. */
export const JobStatus = {
  None: 0,
  Open: 1,
  Running: 2,
  Completed: 3,
  Finalized: 4,
  Cancelled: 5,
} as const;
