/**
 * Chain verbs of VerificationManager: issue a challenge or gradient sample, answer it, claim its
 * timeout, settle a task group by redundancy, report a copycat, and list open challenges of a
 * node. Each is one transaction through sendContract, so a revert names the custom error.
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses } from "../chain/contracts.ts";
import { sendContract, type SendResult } from "../chain/send_contract.ts";
import type { ChunkOpenings } from "./chunk_openings.ts";

/** A challenge as the chain holds it. */
export interface ChallengeInfo {
  challengeId: bigint;
  jobId: Hex;
  nodePubkey: Hex;
  round: number;
  step: number;
  count: number;
  seed: Hex;
  deadline: bigint;
}

type Target = { addresses: ArthaAddresses; jobId: Hex; round: number; nodePubkey: Hex };

async function issued(client: ArthaClient, addresses: ArthaAddresses, sent: SendResult) {
  const logs = await client.getContractEvents({
    address: addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    blockHash: sent.receipt.blockHash,
  });
  const log = logs.find((l) => l.transactionHash === sent.hash)!;
  const a = log.args;
  return {
    challengeId: a.challengeId!,
    jobId: a.jobId!,
    nodePubkey: a.nodePubkey!,
    round: a.round!,
    step: a.step!,
    count: a.count!,
    seed: a.seed!,
    deadline: a.deadline!,
    gasUsed: sent.gasUsed,
  };
}

/** Challenges one chunk and one step of a committed round (authorised verifier). */
export async function issueChallenge(
  client: ArthaClient,
  params: Target & { steps: number },
): Promise<ChallengeInfo & { gasUsed: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "issueChallenge",
    args: [params.jobId, params.round, params.nodePubkey, params.steps],
  });
  return issued(client, params.addresses, sent);
}

/** Challenges one step of a committed round (authorised verifier); `count` is 0 for it. */
export async function issueStepChallenge(
  client: ArthaClient,
  params: Target & { steps: number },
): Promise<ChallengeInfo & { gasUsed: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "issueStepChallenge",
    args: [params.jobId, params.round, params.nodePubkey, params.steps],
  });
  return issued(client, params.addresses, sent);
}

/** Answers a step challenge with the step's record and its Merkle proof against lossDigest. */
export function respondStep(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    challengeId: bigint;
    digests: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex };
    record: Hex;
    proof: Hex[];
  },
): Promise<SendResult> {
  const { lossDigest, gradientDigest, weightsDigest } = params.digests;
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "respondStep",
    args: [
      params.challengeId,
      lossDigest,
      gradientDigest,
      weightsDigest,
      params.record,
      params.proof,
    ],
  });
}

/** Requests `sampleBps` (100-500) of the `chunkCount` chunks of a committed update. */
export async function requestGradientSample(
  client: ArthaClient,
  params: Target & { steps: number; chunkCount: number; sampleBps: number },
): Promise<ChallengeInfo & { gasUsed: bigint }> {
  const sent = await sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "requestGradientSample",
    args: [
      params.jobId,
      params.round,
      params.nodePubkey,
      params.steps,
      BigInt(params.chunkCount),
      BigInt(params.sampleBps),
    ],
  });
  return issued(client, params.addresses, sent);
}

/** Answers a challenge with the commit's digest triple and the chunk openings. */
export function respondChallenge(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    challengeId: bigint;
    digests: { lossDigest: Hex; gradientDigest: Hex; weightsDigest: Hex };
    openings: ChunkOpenings;
  },
): Promise<SendResult> {
  const { lossDigest, gradientDigest, weightsDigest } = params.digests;
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "respond",
    args: [
      params.challengeId,
      lossDigest,
      gradientDigest,
      weightsDigest,
      params.openings.chunks,
      params.openings.proofs,
    ],
  });
}

/** Claims the timeout of an unanswered challenge (slashes the node 10%). */
export function timeoutChallenge(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; challengeId: bigint },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "timeout",
    args: [params.challengeId],
  });
}

/** Records task groups on chain (authorised coordinator); groups start at 1. */
export function setTaskGroups(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; nodes: Hex[]; groups: number[] },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "setTaskGroups",
    args: [params.jobId, params.nodes, params.groups],
  });
}

/** Settles a task group's round by redundancy: outliers lose 50% of stake. */
export function settleRedundancy(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; group: number },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "settleRedundancy",
    args: [params.jobId, params.round, params.group],
  });
}

/** Reports a node that committed another task group's result (100% and deactivation). */
export function reportCopycat(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; round: number; copier: Hex; original: Hex },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.verification,
    abi: abis.verification,
    functionName: "reportCopycat",
    args: [params.jobId, params.round, params.copier, params.original],
  });
}

/** Challenges of `nodePubkey` that are still open, oldest first. */
export async function openChallenges(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; fromBlock?: bigint },
): Promise<ChallengeInfo[]> {
  const logs = await client.getContractEvents({
    address: params.addresses.verification,
    abi: abis.verification,
    eventName: "ChallengeIssued",
    args: { nodePubkey: params.nodePubkey },
    fromBlock: params.fromBlock ?? 0n,
  });
  const out: ChallengeInfo[] = [];
  for (const l of logs) {
    const c = await client.readContract({
      address: params.addresses.verification,
      abi: abis.verification,
      functionName: "challengeOf",
      args: [l.args.challengeId!],
    });
    if (c.status !== 1) continue;
    out.push({
      challengeId: l.args.challengeId!,
      jobId: c.jobId,
      nodePubkey: c.nodePubkey,
      round: c.round,
      step: c.step,
      count: c.count,
      seed: c.seed,
      deadline: c.deadline,
    });
  }
  return out;
}
