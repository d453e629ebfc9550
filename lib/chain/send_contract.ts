/**
 * Simulate, send, wait: the one path every chain verb takes, so a revert surfaces as a
 * ChainCallError naming the contract's custom error before any gas is spent.
 */
import { BaseError, ContractFunctionRevertedError } from "viem";
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

/** viem's one-line summary of a failure that was not a revert (e.g. not enough funds). */
function shortCause(cause: unknown): string | undefined {
  const short = (cause as { shortMessage?: unknown } | undefined)?.shortMessage;
  return typeof short === "string" && short ? short.split("\n")[0] : undefined;
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

/** Simulates then sends a contract write from the client's account and waits for its receipt. */
export function sendContract<
  const abi extends Abi,
  functionName extends ContractFunctionName<abi, "payable" | "nonpayable">,
>(
  client: ArthaClient,
  request: {
    address: Hex;
    abi: abi;
    functionName: functionName;
    args: ContractFunctionArgs<abi, "payable" | "nonpayable", functionName>;
    value?: bigint;
    /** Block the simulation and estimate run against; "pending" for calls that must land in a
     * block after the latest one (e.g. a draw from the hash of the latest block). */
    blockTag?: "latest" | "pending";
  },
): Promise<SendResult> {
  // One queue per sending account: concurrent callers (a cron and a manual call closing the same
  // round, three finalize requests) would otherwise race for the same nonce ("nonce too low").
  return inQueue(client, () => send(client, request));
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
  let hash: Hex;
  try {
    // deno-lint-ignore no-explicit-any
    const { request: prepared } = await client.simulateContract(request as any);
    // The estimate runs against the pending block; a write whose cost depends on the block time
    // (a heartbeat storing block.timestamp over an equal value) can cost more once mined, so a
    // margin keeps such transactions from running out of gas.
    // deno-lint-ignore no-explicit-any
    const estimate = await client.estimateContractGas(request as any);
    // deno-lint-ignore no-explicit-any
    const { blockTag: _, ...toSend } = prepared as any;
    hash = await client.writeContract({ ...toSend, gas: (estimate * GAS_MARGIN_PCT) / 100n });
  } catch (e) {
    const { errorName, args } = revertOf(e);
    throw new ChainCallError(request.functionName, errorName, args, { cause: e });
  }
  const receipt = await client.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") {
    throw new ChainCallError(request.functionName, undefined, undefined);
  }
  return { hash, receipt, gasUsed: receipt.gasUsed };
}
