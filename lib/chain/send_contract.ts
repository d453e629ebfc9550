/**
 * Prepare, send, wait: the one path every chain verb takes, so a revert surfaces as a
 * ChainCallError naming the contract's custom error before any gas is spent. One request fills
 * nonce, fees and the gas estimate (eth_fillTransaction where the node has it, which runs the
 * call once); only a call that fails there is simulated again, to name its revert.
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

/** A contract call that reverted or failed; `errorName` is the Solidity custom error. */
export class ChainCallError extends Error {
  readonly code = "CHAIN_CALL_FAILED";
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

async function send<const abi extends Abi>(
  client: ArthaClient,
  // deno-lint-ignore no-explicit-any
  request: { functionName: string; abi: abi } & Record<string, any>,
): Promise<SendResult> {
  // A browser wallet (a json-rpc account) only sends: eth_sendTransaction, through writeContract.
  if (request.blockTag || client.account.type !== "local") return await sendAt(client, request);
  let hash: Hex | undefined;
  /** Hashes of the transactions signed and handed to the node, oldest first. */
  const signed: Hex[] = [];
  for (let attempt = 0; !hash; attempt++) {
    try {
      hash = await signAndSend(client, request, signed);
    } catch (e) {
      if (e instanceof FeeCapError) throw e; // refused before signing: no revert to name
      if (!staleNonce(e)) throw await namedFailure(client, request, e);
      hash = await afterStaleNonce(client, request, signed, e);
      if (hash) break;
      if (attempt >= STALE_NONCE_RETRIES) throw await namedFailure(client, request, e);
      await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
  const sent = await receiptOf(client, request.functionName, hash);
  if (sent.receipt.status === "success") {
    return { hash, receipt: sent.receipt, gasUsed: sent.gasUsed };
  }
  // Only a send within a given bound gets here (an estimated one fails to prepare); a reverted
  // call changed no contract state, so replaying it on the latest state names its revert.
  throw await namedFailure(client, request, sent.failure);
}

/**
 * What a send refused with "nonce too low" does: the hash of one of `signed` that the node has
 * mined (the send's own transaction, whose answer was lost), else undefined to fill again; a
 * call sent within a known gas bound that would revert now is named instead, never sent again.
 *
 * A nonce the node calls too low was filled from a state behind the node's (a lagging replica
 * behind a load balancer, a devnet answering before its state caught up), and filling again is
 * then right. But found in the worker audit: the node also says so when the send's own
 * transaction landed while its answer was lost (the transport's retry sends it again, and a
 * lagging replica does not know its hash yet); a refill then sent the call a second time, whose
 * revert paid gas on chain (a fixed-gas registration always). "already known" is not this case:
 * the node has the same transaction, and a refill would send the call a second time.
 */
async function afterStaleNonce(
  client: ArthaClient,
  // deno-lint-ignore no-explicit-any
  request: { functionName: string } & Record<string, any>,
  signed: readonly Hex[],
  refusal: unknown,
): Promise<Hex | undefined> {
  for (const ms of LANDED_RETRY_MS) {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    for (const hash of signed) {
      try {
        await client.getTransactionReceipt({ hash });
        return hash;
      } catch (e) {
        if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
      }
    }
  }
  if (request.gas === undefined) return undefined; // the refill's estimate runs the call
  try {
    // deno-lint-ignore no-explicit-any
    await client.simulateContract({ ...request, account: client.account } as any);
  } catch (e) {
    const { errorName, args } = revertOf(e);
    const cause = errorName ? e : refusal;
    throw new ChainCallError(request.functionName, errorName, args, { cause });
  }
  return undefined;
}

/** Waits (ms) before asking again whether a transaction refused as "nonce too low" landed. */
const LANDED_RETRY_MS = [0, 100, 400, 1_000];

/**
 * Fills (nonce, fees, gas) and signs `request` with the local account, and sends it; the signed
 * transaction's hash is added to `hashes` before it is sent (its answer may be lost).
 */
async function signAndSend(
  client: ArthaClient,
  // deno-lint-ignore no-explicit-any
  request: { functionName: string } & Record<string, any>,
  hashes: Hex[],
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
  const signed = { ...prepared, gas };
  const serializedTransaction = account.signTransaction
    // deno-lint-ignore no-explicit-any
    ? await account.signTransaction(signed as any)
    // deno-lint-ignore no-explicit-any
    : await client.signTransaction(signed as any);
  hashes.push(keccak256(serializedTransaction));
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

/** Whether `e` is the node refusing a transaction's nonce as already used ("nonce too low"). */
function staleNonce(e: unknown): boolean {
  if (!(e instanceof BaseError)) return false;
  return e.walk((x) => x instanceof BaseError && /nonce too low/i.test(x.details)) !== null;
}

/** The failure of a prepare or send as a ChainCallError naming the revert (simulated again). */
async function namedFailure(
  client: ArthaClient,
  // deno-lint-ignore no-explicit-any
  request: { functionName: string } & Record<string, any>,
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
 * block polling (a real chain's block time).
 */
async function receiptOf(client: ArthaClient, functionName: string, hash: Hex) {
  let receipt;
  for (const ms of RECEIPT_RETRY_MS) {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    try {
      receipt = await client.getTransactionReceipt({ hash });
      break;
    } catch (e) {
      if (!(e instanceof TransactionReceiptNotFoundError)) throw e;
    }
  }
  receipt ??= await client.waitForTransactionReceipt({ hash });
  const failure = new ChainCallError(functionName, undefined, undefined);
  return { hash, receipt, gasUsed: receipt.gasUsed, failure };
}

/** A send whose simulation and estimate must run against `blockTag` (e.g. "pending"). */
async function sendAt<const abi extends Abi>(
  client: ArthaClient,
  // deno-lint-ignore no-explicit-any
  request: { functionName: string; abi: abi } & Record<string, any>,
): Promise<SendResult> {
  let hash: Hex;
  try {
    // deno-lint-ignore no-explicit-any
    const { request: prepared } = await client.simulateContract(request as any);
    // deno-lint-ignore no-explicit-any
    const estimate = await client.estimateContractGas(request as any);
    // deno-lint-ignore no-explicit-any
    const { blockTag: _, ...toSend } = prepared as any;
    hash = await client.writeContract({ ...toSend, gas: (estimate * GAS_MARGIN_PCT) / 100n });
  } catch (e) {
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(request.functionName, errorName, args, { cause: e });
  }
  const sent = await receiptOf(client, request.functionName, hash);
  if (sent.receipt.status !== "success") throw sent.failure;
  return { hash, receipt: sent.receipt, gasUsed: sent.gasUsed };
}
