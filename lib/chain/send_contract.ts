/**
 * Prepare, send, wait: the one path every chain verb takes, so a revert surfaces as a
 * ChainCallError naming the contract's custom error before any gas is spent. One request fills
 * nonce, fees and the gas estimate (eth_fillTransaction where the node has it, which runs the
 * call once); only a call that fails there is simulated again, to name its revert.
 *
 * A call is signed again only when none of its transactions can land: its nonce was taken by a
 * transaction that is not one of them (found on chain, not guessed from a timeout). A call handed
 * to the node whose fate cannot be told is a {@link SentUnconfirmedError} naming every
 * transaction signed for it: it may have run, so it is not to be sent again as if it had failed.
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  formatEther,
  formatGwei,
  keccak256,
  TransactionReceiptNotFoundError,
} from "viem";
import type {
  Abi,
  ContractFunctionArgs,
  ContractFunctionName,
  Hex,
  TransactionReceipt,
} from "viem";
import type { ArthaClient } from "./client.ts";
import { rpcUnavailable } from "./rpc_unavailable.ts";
import { type Fate, fateOf } from "./_sent_fate.ts";

/** A contract call that reverted or failed; `errorName` is the Solidity custom error. */
export class ChainCallError extends Error {
  readonly code: "CHAIN_CALL_FAILED" | "SENT_UNCONFIRMED" = "CHAIN_CALL_FAILED";
  constructor(
    readonly functionName: string,
    readonly errorName: string | undefined,
    readonly args: readonly unknown[] | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot ${functionName}: ${errorName ?? shortCause(options?.cause) ?? "transaction failed"}${
        args?.length ? `(${args.map(String).join(", ")})` : ""
      }`,
      options,
    );
    this.name = "ChainCallError";
  }
}

/** A transaction signed for a call and handed to the node (a wallet's nonce is not known). */
export interface SentTransaction {
  hash: Hex;
  nonce?: number;
}

/**
 * A call handed to the node whose fate is unknown: the node's answer was lost, it refused a copy
 * while none of the call's transactions could be found, or the receipt never came. Any of
 * `transactions` may have run or may still run; a caller must not take the call as not sent (send
 * it again, drop its claim on the work): look the hashes up, or let its scan of the chain find
 * the call's effect. A ChainCallError, so callers that only tell success from failure still do.
 */
export class SentUnconfirmedError extends ChainCallError {
  override readonly code = "SENT_UNCONFIRMED";
  constructor(
    functionName: string,
    readonly transactions: readonly SentTransaction[],
    why: string,
    options?: ErrorOptions,
  ) {
    super(functionName, undefined, undefined, options);
    this.name = "SentUnconfirmedError";
    const listed = transactions
      .map((t) => t.nonce === undefined ? t.hash : `${t.hash} (nonce ${t.nonce})`).join(", ");
    this.message = `Cannot confirm ${functionName}: ${why}; it may still land: ${listed}`;
  }

  /** The hashes of the call's transactions, oldest first. */
  get hashes(): Hex[] {
    return this.transactions.map((t) => t.hash);
  }
}

/**
 * viem's one-line summary of a failure that was not a revert (e.g. not enough funds), with the
 * node's own words when viem's summary is generic ("Transaction creation failed (nonce too low)").
 */
function shortCause(cause: unknown): string | undefined {
  const c = cause as { shortMessage?: unknown; details?: unknown } | undefined;
  const short = typeof c?.shortMessage === "string" ? c.shortMessage.split("\n")[0] : "";
  if (!short) return undefined;
  const details = typeof c?.details === "string" ? c.details.split("\n")[0]!.trim() : "";
  return details && !short.includes(details) ? `${short.replace(/\.$/, "")} (${details})` : short;
}

/** The Solidity error name and arguments of a viem error, if it was a revert. */
export function revertOf(e: unknown): { errorName?: string; args?: readonly unknown[] } {
  if (e instanceof BaseError) {
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      return { errorName: revert.data?.errorName ?? revert.reason, args: revert.data?.args };
    }
  }
  return {};
}

/** Gas limit as a percentage of the estimate (see sendContract). */
export const GAS_MARGIN_PCT = 125n;

export interface SendResult {
  hash: Hex;
  receipt: TransactionReceipt;
  gasUsed: bigint;
}

/** A state-changing call of a contract: what {@link sendContract} sends. */
export interface ContractWrite<
  abi extends Abi,
  functionName extends ContractFunctionName<abi, "payable" | "nonpayable">,
> {
  address: Hex;
  abi: abi;
  functionName: functionName;
  args: ContractFunctionArgs<abi, "payable" | "nonpayable", functionName>;
  value?: bigint;
}

/**
 * Sends a contract write from the client's account (estimated, or within a known gas bound) and
 * waits for its receipt; a revert is a ChainCallError naming the custom error.
 *
 * @throws {ChainCallError} the call reverted, or the node refused it: it did not run
 * @throws {SentUnconfirmedError} the call was handed to the node and may have run
 * @throws {FeeCapError} the node asked a fee above the client's cap: nothing was signed
 */
export function sendContract<
  const abi extends Abi,
  functionName extends ContractFunctionName<abi, "payable" | "nonpayable">,
>(
  client: ArthaClient,
  request: ContractWrite<abi, functionName> & {
    /** Block the simulation and estimate run against; "pending" for calls that must land in a
     * block after the latest one (e.g. a draw from the hash of the latest block). */
    blockTag?: "latest" | "pending";
    /** A known upper bound on the call's gas: no estimate is run (one execution less, which
     * matters for a call as costly as an on-chain Ed25519 check); a revert then costs gas and is
     * named by replaying the call. */
    gas?: bigint;
  },
): Promise<SendResult> {
  // One queue per sending account: concurrent callers (a cron and a manual call closing the same
  // round, three finalize requests) would otherwise race for the same nonce ("nonce too low").
  return inQueue(client, () => send(client, request));
}

/**
 * Runs a write as a call, without sending it: a revert, a node that does not answer or an account
 * that cannot pay its gas fails here, before a caller does what it cannot undo (a DID's key files
 * written for a DID that will not exist).
 *
 * @throws {ChainCallError} naming the revert, or the balance and the gas's cost
 */
export async function preflightContract<
  const abi extends Abi,
  functionName extends ContractFunctionName<abi, "payable" | "nonpayable">,
>(
  client: ArthaClient,
  request: ContractWrite<abi, functionName>,
): Promise<void> {
  const address = client.account.address;
  let gas: bigint, price: bigint, balance: bigint;
  try {
    // deno-lint-ignore no-explicit-any
    gas = await client.estimateContractGas({ ...request, account: client.account } as any);
    [price, balance] = await Promise.all([client.getGasPrice(), client.getBalance({ address })]);
  } catch (e) {
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(request.functionName, errorName, args, { cause: e });
  }
  const cost = gas * price + (request.value ?? 0n);
  if (balance < cost) {
    const why = `${address} holds ${formatEther(balance)} ETH; the call costs about ` +
      `${formatEther(cost)} (${gas} gas at ${formatGwei(price)} gwei)`;
    throw new ChainCallError(request.functionName, undefined, undefined, {
      cause: Object.assign(new Error(why), { shortMessage: why }),
    });
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier send of the same account on the same chain has finished. */
function inQueue<T>(client: ArthaClient, fn: () => Promise<T>): Promise<T> {
  const key = `${client.chain.id}:${client.account.address.toLowerCase()}`;
  const run = (queues.get(key) ?? Promise.resolve()).then(fn, fn);
  const settled = run.then(() => undefined, () => undefined);
  queues.set(key, settled);
  // Forget an idle queue so a long-lived process does not keep one entry per account forever.
  settled.then(() => queues.get(key) === settled && queues.delete(key));
  return run;
}

// deno-lint-ignore no-explicit-any
type Request = { functionName: string } & Record<string, any>;

/** A transaction of this call signed by the local account, with its nonce. */
type Signed = Required<SentTransaction>;

async function send(client: ArthaClient, request: Request): Promise<SendResult> {
  // A browser wallet (a json-rpc account) only sends: eth_sendTransaction, through writeContract.
  if (client.account.type !== "local") return await sendByWallet(client, request);
  const call = request.blockTag ? await boundAt(client, request) : request;
  /** The transactions signed and handed to the node, oldest first. */
  const signed: Signed[] = [];
  let hash: Hex | undefined;
  let handed = false;
  const onSigned = (tx: Signed) => {
    handed = true;
    // A refill from the same stale state signs the same transaction again.
    if (!signed.some((s) => s.hash === tx.hash)) signed.push(tx);
  };
  for (let attempt = 0; !hash; attempt++) {
    handed = false;
    try {
      hash = await signAndSend(client, call, onSigned);
    } catch (e) {
      if (e instanceof FeeCapError) throw e; // refused before signing: no revert to name
      // Failed before this attempt's transaction was signed: every earlier one was found unable
      // to land (else no attempt would follow it).
      if (!handed) throw await namedFailure(client, call, e);
      hash = await afterRefusal(client, call, signed, e);
      if (hash) break;
      if (attempt >= STALE_NONCE_RETRIES) throw await namedFailure(client, call, e);
      await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
  const sent = await receiptOf(client, call.functionName, hash, signed);
  if (sent.receipt.status === "success") return sent;
  // Only a send within a given bound gets here (an estimated one fails to prepare); a reverted
  // call changed no contract state, so replaying it on the latest state names its revert.
  const reverted = new ChainCallError(call.functionName, undefined, undefined);
  throw await namedFailure(client, call, reverted);
}

/**
 * What a send whose last transaction the node did not take for certain does: the hash of one of
 * `signed` to wait for (it landed, or the node holds it), or undefined to fill and sign again
 * (none of them can land: each one's nonce was taken by another transaction).
 *
 * A nonce the node calls too low was filled from a state behind the node's (a lagging replica
 * behind a load balancer), or the nonce was taken by another process sending with the same key;
 * filling again is then right. But found in the worker and chain audits: the node also says so
 * when the send's own transaction landed while its answer was lost (the transport's retry sends
 * it again), and a lagging replica may not know its receipt for seconds; a refill after a fixed
 * wait then sent the call a second time (a job's escrow paid twice). So the nonce's taker is
 * looked up on chain, and while it cannot be found the call is not signed again.
 * "replacement transaction underpriced" is the same question: another transaction holds the
 * nonce in the node's pool, and which of the two lands decides.
 *
 * @throws {SentUnconfirmedError} when no answer can be had
 * @throws {ChainCallError} when the node refused the transaction for a reason of its own
 */
async function afterRefusal(
  client: ArthaClient,
  request: Request,
  signed: readonly Signed[],
  refusal: unknown,
): Promise<Hex | undefined> {
  const fn = request.functionName;
  // "already known": the node has this very transaction; a refill would send the call twice.
  if (nodeSays(refusal, /already known|already imported/i)) return signed.at(-1)!.hash;
  if (rpcUnavailable(refusal)) {
    throw new SentUnconfirmedError(fn, signed, "the node's answer was lost", { cause: refusal });
  }
  if (!nodeSays(refusal, NONCE_TAKEN)) throw await namedFailure(client, request, refusal);
  let fate: Fate;
  try {
    fate = await fateOf(client, signed);
  } catch (e) {
    throw new SentUnconfirmedError(fn, signed, "the chain could not be asked", { cause: e });
  }
  if (fate !== "lost") {
    if (fate) return fate;
    const why = "the node refused it as a used nonce, yet none of its transactions was found";
    throw new SentUnconfirmedError(fn, signed, why, { cause: refusal });
  }
  if (request.gas === undefined) return undefined; // the refill's estimate runs the call
  // A call within a known bound is sent without running it first: one that would revert now is
  // named instead of paying for its revert on chain.
  try {
    // deno-lint-ignore no-explicit-any
    await client.simulateContract({ ...request, account: client.account } as any);
  } catch (e) {
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(fn, errorName, args, { cause: errorName ? e : refusal });
  }
  return undefined;
}

/** The node's refusals of a transaction whose nonce another transaction holds or has used. */
const NONCE_TAKEN = /nonce too low|replacement transaction underpriced/i;

/** Whether the node's own words in `e` (or a cause's) match `pattern`. */
function nodeSays(e: unknown, pattern: RegExp): boolean {
  if (!(e instanceof BaseError)) return false;
  return e.walk((x) => x instanceof BaseError && pattern.test(x.details)) !== null;
}

/**
 * Fills (nonce, fees, gas) and signs `request` with the local account, and sends it; the signed
 * transaction is handed to `onSigned` before it is sent (its answer may be lost).
 */
async function signAndSend(
  client: ArthaClient,
  request: Request,
  onSigned: (tx: Signed) => void,
): Promise<Hex> {
  // deno-lint-ignore no-explicit-any
  const data = encodeFunctionData(request as any);
  const prepared = await client.prepareTransactionRequest({
    account: client.account,
    chain: client.chain,
    to: request.address,
    data,
    value: request.value,
    gas: request.gas,
  });
  checkFee(client, request.functionName, prepared);
  // The estimate runs against the pending block; a write whose cost depends on the block time
  // (a heartbeat storing block.timestamp over an equal value) can cost more once mined, so a
  // margin keeps such transactions from running out of gas.
  const gas = request.gas ?? (prepared.gas * GAS_MARGIN_PCT) / 100n;
  // A local account signs without asking the node its chain id again (prepare filled it).
  const { account } = client;
  const transaction = { ...prepared, gas };
  const serializedTransaction = account.signTransaction
    // deno-lint-ignore no-explicit-any
    ? await account.signTransaction(transaction as any)
    // deno-lint-ignore no-explicit-any
    : await client.signTransaction(transaction as any);
  onSigned({ hash: keccak256(serializedTransaction), nonce: prepared.nonce });
  return await client.sendRawTransaction({ serializedTransaction });
}

/**
 * Refuses a transaction whose fee per gas, as the node filled it, is above the client's cap: the
 * fee is the node's to propose, and a compromised or lying endpoint would otherwise have every
 * heartbeat and commit pay what it liked.
 *
 * @throws {FeeCapError} naming the fee and the cap
 */
function checkFee(
  client: ArthaClient,
  functionName: string,
  prepared: { maxFeePerGas?: bigint; gasPrice?: bigint },
): void {
  const cap = client.feeCap;
  const fee = prepared.maxFeePerGas ?? prepared.gasPrice;
  if (cap === undefined || fee === undefined || fee <= cap) return;
  throw new FeeCapError(
    `Cannot ${functionName}: the chain node asks up to ${formatGwei(fee)} gwei a unit of gas, ` +
      `above this account's cap of ${formatGwei(cap)} gwei (--max-gas-price, ` +
      "ARTHA_MAX_GAS_PRICE); nothing was sent",
  );
}

/** A send refused before signing: its fee per gas was above the account's cap. */
export class FeeCapError extends Error {
  readonly code = "FEE_ABOVE_CAP";
  constructor(message: string) {
    super(message);
    this.name = "FeeCapError";
  }
}

/** Fills after a refused stale nonce before the send's failure is the caller's. */
const STALE_NONCE_RETRIES = 3;

/** The failure of a prepare or send as a ChainCallError naming the revert (simulated again). */
async function namedFailure(
  client: ArthaClient,
  request: Request,
  e: unknown,
): Promise<ChainCallError> {
  let cause = e;
  try {
    // deno-lint-ignore no-explicit-any
    await client.simulateContract(request as any);
  } catch (simulated) {
    if (revertOf(simulated).errorName) cause = simulated;
  }
  const { errorName, args } = revertOf(cause);
  return new ChainCallError(request.functionName, errorName, args, { cause });
}

/** Waits (ms) before asking again for a receipt a devnet is about to have. */
const RECEIPT_RETRY_MS = [0, 1, 2, 5, 10, 20];

/**
 * The receipt of a sent transaction: asked for at once and a few times within ~40 ms (a devnet
 * mines as it receives, but under load a little after answering), then awaited by the client's
 * block polling (a real chain's block time). viem's wait follows a replacement at the same nonce
 * (another process sending with this key) and answers with its receipt, which is not the call's:
 * found in the chain audit, it was reported as the call's success.
 *
 * @throws {SentUnconfirmedError} when the receipt cannot be had
 * @throws {ChainCallError} when another transaction took the nonce
 */
async function receiptOf(
  client: ArthaClient,
  functionName: string,
  hash: Hex,
  sent: readonly SentTransaction[],
): Promise<SendResult> {
  let receipt: TransactionReceipt | undefined;
  /** Replacements that run the same call (same target, value and input: a wallet's speed-up). */
  const repriced = new Set<string>();
  try {
    for (const ms of RECEIPT_RETRY_MS) {
      if (ms) await new Promise((r) => setTimeout(r, ms));
      try {
        receipt = await client.getTransactionReceipt({ hash });
        return { hash, receipt, gasUsed: receipt.gasUsed };
      } catch (e) {
        // A hiccup of the RPC (a 429, a dropped connection) is left to the wait below: found
        // reviewing the change, it gave up at once on a send that had landed.
        if (rpcUnavailable(e)) break;
        if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
      }
    }
    receipt = await client.waitForTransactionReceipt({
      hash,
      timeout: client.receiptTimeoutMs,
      onReplaced: (r) => {
        if (r.reason === "repriced") repriced.add(r.transaction.hash.toLowerCase());
      },
    });
  } catch (e) {
    throw new SentUnconfirmedError(functionName, sent, "its receipt did not come", { cause: e });
  }
  const landed = receipt.transactionHash.toLowerCase() as Hex;
  if (!sent.some((s) => s.hash.toLowerCase() === landed) && !repriced.has(landed)) {
    const why = `its transaction ${hash} was replaced by ${landed} from the same account ` +
      "(another process sending with this key?); the call did not run";
    throw new ChainCallError(functionName, undefined, undefined, {
      cause: Object.assign(new Error(why), { shortMessage: why }),
    });
  }
  return { hash: landed, receipt, gasUsed: receipt.gasUsed };
}

/**
 * `request` to be judged against its block tag (e.g. "pending"): simulated there, a revert named,
 * and its gas estimated there; it is then sent within that bound like any other call (its fee
 * checked, its refusals told apart).
 */
async function boundAt(client: ArthaClient, request: Request): Promise<Request> {
  const at = { ...request, account: client.account };
  try {
    // deno-lint-ignore no-explicit-any
    await client.simulateContract(at as any);
    // deno-lint-ignore no-explicit-any
    const estimate = await client.estimateContractGas(at as any);
    return { ...request, gas: request.gas ?? (estimate * GAS_MARGIN_PCT) / 100n };
  } catch (e) {
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(request.functionName, errorName, args, { cause: e });
  }
}

/** A send through a wallet (a json-rpc account), which fills the nonce and signs. */
async function sendByWallet(client: ArthaClient, request: Request): Promise<SendResult> {
  let hash: Hex;
  try {
    // deno-lint-ignore no-explicit-any
    const { request: prepared } = await client.simulateContract(request as any);
    // deno-lint-ignore no-explicit-any
    const estimate = await client.estimateContractGas(request as any);
    // With a cap, the fees are filled here and checked, and the wallet is given them.
    const fees = client.feeCap === undefined ? {} : await client.estimateFeesPerGas();
    checkFee(client, request.functionName, fees);
    // deno-lint-ignore no-explicit-any
    const { blockTag: _, ...toSend } = prepared as any;
    hash = await client.writeContract({
      ...toSend,
      ...fees,
      gas: (estimate * GAS_MARGIN_PCT) / 100n,
    });
  } catch (e) {
    if (e instanceof FeeCapError) throw e;
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(request.functionName, errorName, args, { cause: e });
  }
  const sent = await receiptOf(client, request.functionName, hash, [{ hash }]);
  if (sent.receipt.status !== "success") {
    throw new ChainCallError(request.functionName, undefined, undefined);
  }
  return sent;
}
