/**
 * Whether a call's transactions that the node refused ("nonce too low", "replacement transaction
 * underpriced") landed after all, or cannot land: the node says the same words of another
 * sender's transaction at the nonce and of the call's own, mined while its answer was lost. The
 * transaction that took each nonce is looked up on chain, never guessed from a wait. Private to
 * send_contract.ts.
 */
import { TransactionReceiptNotFoundError } from "viem";
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { nonceTaker } from "./nonce_taker.ts";

/** A landed transaction's hash; "lost": none can land; undefined: not found out in time. */
export type Fate = Hex | "lost" | undefined;

/** Blocks the head must move past the first look before a call's fate is called unknown. */
const LANDED_WAIT_BLOCKS = 3n;
/** Least time (ms) the fate is looked for (a fast chain's blocks; replicas lag in time too). */
const LANDED_WAIT_MIN_MS = 1_500;
/** Most time (ms) the fate is looked for (a devnet mines no block unless sent a transaction). */
const LANDED_WAIT_MAX_MS = 120_000;

/**
 * Whether one of `signed` landed, or none can: its receipt, else the transaction that took each
 * one's nonce (a block with it is found before a lagging replica indexes its receipt). Asked until
 * the head is {@link LANDED_WAIT_BLOCKS} past the first look (and at least
 * {@link LANDED_WAIT_MIN_MS}), within {@link LANDED_WAIT_MAX_MS}: the wait is in blocks, as a
 * replica's lag is.
 */
export async function fateOf(
  client: ArthaClient,
  signed: readonly { hash: Hex; nonce: number }[],
): Promise<Fate> {
  const address = client.account.address;
  const lost = new Set<Hex>();
  const started = Date.now();
  let first: bigint | undefined;
  for (let look = 0;; look++) {
    for (const { hash } of signed) if (await receiptFound(client, hash)) return hash;
    const head = await client.getBlockNumber({ cacheTime: 0 });
    first ??= head;
    try {
      const used = await client.getTransactionCount({ address, blockNumber: head });
      for (const { hash, nonce } of signed) {
        // A nonce this node does not count as used yet: looked at again.
        if (lost.has(hash) || nonce >= used) continue;
        const taker = await nonceTaker(client, nonce, head);
        if (taker === undefined) continue;
        if (signed.some((s) => s.hash === taker)) return taker;
        lost.add(hash);
      }
    } catch {
      // A replica that does not have the head's state or block yet: asked again at the next look.
    }
    if (signed.every((s) => lost.has(s.hash))) return "lost";
    const waited = Date.now() - started;
    const moved = head >= first + LANDED_WAIT_BLOCKS && waited >= LANDED_WAIT_MIN_MS;
    if (moved || waited >= LANDED_WAIT_MAX_MS) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(client.pollingInterval, 50 * 2 ** look)));
  }
}

/** Whether the node has a receipt of `hash` (false while it does not know the transaction). */
async function receiptFound(client: ArthaClient, hash: Hex): Promise<boolean> {
  try {
    await client.getTransactionReceipt({ hash });
    return true;
  } catch (e) {
    if (e instanceof TransactionReceiptNotFoundError) return false;
    throw e;
  }
}
