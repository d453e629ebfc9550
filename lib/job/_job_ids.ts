/**
 * Ids a job owner knows before the chain answers (private to submit.ts): the id its next escrow
 * gets, its model's id, and the hash of each transaction it signs, so a submit cut short after
 * signing still names its job.
 */
import {
  type Address,
  encodeAbiParameters,
  type Hex,
  keccak256,
  parseAbiParameters,
  parseEventLogs,
} from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { readJob } from "../chain/read_job.ts";

/** ModelRegistry's id of `owner`'s model `name` (derived beside the verb that registers it). */
export { modelIdOf } from "../chain/register_model.ts";

/** AIJobManager's id of `owner`'s job number `nonce`, as the contract derives it. */
function jobIdAt(client: ArthaClient, jobs: Address, nonce: bigint): Hex {
  const types = parseAbiParameters("address, uint256, address, uint256");
  const values = [jobs, BigInt(client.chain.id), client.account.address, nonce] as const;
  return keccak256(encodeAbiParameters(types, values));
}

/**
 * The id the owner's next escrow gets: keccak256(abi.encode(jobs, chain id, owner, nonce)), the
 * nonce (which has no getter) being the owner's first job number with no job on chain. Jobs are
 * numbered in order and never deleted, so it is found by doubling, then halving: a few reads.
 */
export async function nextJobId(client: ArthaClient, addresses: ArthaAddresses): Promise<Hex> {
  const exists = async (nonce: bigint) => {
    const jobId = jobIdAt(client, addresses.jobs, nonce);
    return (await readJob(client, { addresses, jobId })).status !== JobStatus.None;
  };
  let lo = 0n, hi = 1n;
  while (await exists(hi)) [lo, hi] = [hi + 1n, hi * 2n];
  while (lo < hi) {
    const mid = (lo + hi) / 2n;
    if (await exists(mid)) lo = mid + 1n;
    else hi = mid;
  }
  return jobIdAt(client, addresses.jobs, lo);
}

/**
 * `client`, telling `onSigned` each signed transaction's hash before it is sent (awaited): a
 * send whose answer or receipt is lost still leaves its hash with the owner.
 */
export function watchSends(
  client: ArthaClient,
  onSigned: (hash: Hex) => Promise<void>,
): ArthaClient {
  const watched = Object.create(client) as ArthaClient;
  watched.sendRawTransaction = async (args) => {
    await onSigned(keccak256(args.serializedTransaction));
    return await client.sendRawTransaction(args);
  };
  return watched;
}

/**
 * The id the escrow transaction `hash` gave its job, from its receipt's JobSubmitted event; null
 * when it reverted, undefined while it is not mined (or its receipt cannot be read).
 */
export async function minedJobId(client: ArthaClient, hash: Hex): Promise<Hex | null | undefined> {
  const receipt = await client.getTransactionReceipt({ hash }).catch(() => undefined);
  if (!receipt) return undefined;
  const logs = receipt.logs;
  const [event] = parseEventLogs({ abi: abis.jobs, eventName: "JobSubmitted", logs });
  return event ? event.args.jobId : null;
}
