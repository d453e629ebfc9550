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
  parseTransaction,
  TransactionNotFoundError,
} from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { abis, type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { readJob } from "../chain/read_job.ts";
import { nonceTaker } from "../chain/nonce_taker.ts";

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
  onSigned: (hash: Hex, nonce: number | undefined) => Promise<void>,
): ArthaClient {
  const watched = Object.create(client) as ArthaClient;
  watched.sendRawTransaction = async (args) => {
    const { nonce } = parseTransaction(args.serializedTransaction);
    await onSigned(keccak256(args.serializedTransaction), nonce);
    return await client.sendRawTransaction(args);
  };
  return watched;
}

/**
 * The id the escrow transaction `hash` gave its job, from its receipt's JobSubmitted event; null
 * when it reverted or can never be mined (the node does not know it and the account's nonce
 * `nonce` is used by another transaction), undefined while it is not mined (or its receipt cannot
 * be read). Found reviewing the folder's record: an escrow the node refused was recorded pending
 * for good, and every later submit, cancel and start of the folder refused to go on.
 */
export async function minedJobId(
  client: ArthaClient,
  hash: Hex,
  nonce?: number,
): Promise<Hex | null | undefined> {
  const receipt = await client.getTransactionReceipt({ hash }).catch(() => undefined);
  if (!receipt) return await neverMined(client, hash, nonce) ? null : undefined;
  const logs = receipt.logs;
  const [event] = parseEventLogs({ abi: abis.jobs, eventName: "JobSubmitted", logs });
  return event ? event.args.jobId : null;
}

/**
 * Whether `hash` can never be mined: another transaction of the account used its `nonce`, found
 * in the block that used it (a replica's transaction index may lag; blocks are what they are).
 * A nonce used before the blocks a node keeps state for is judged by whether the node knows the
 * hash at all: a replica lags by seconds, not by that many blocks.
 */
async function neverMined(client: ArthaClient, hash: Hex, nonce?: number): Promise<boolean> {
  if (nonce === undefined) return false;
  try {
    const head = await client.getBlockNumber({ cacheTime: 0 });
    const address = client.account.address;
    if (await client.getTransactionCount({ address, blockNumber: head }) <= nonce) return false;
    const taker = await nonceTaker(client, nonce, head);
    if (taker !== undefined) return taker.toLowerCase() !== hash.toLowerCase();
    await client.getTransaction({ hash });
    return false; // known to the node: mined, its receipt not read
  } catch (e) {
    return e instanceof TransactionNotFoundError;
  }
}
