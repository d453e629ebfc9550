/**
 * viem clients for an ArthaChain JSON-RPC endpoint (anvil in development, any EVM node in
 * production via ARTHA_RPC_URL). One client both reads and writes.
 *
 * @example
 * ```ts
 * import { startDevnet } from "./devnet.ts";
 * import { createArthaClient } from "./client.ts";
 * await using net = await startDevnet({ accounts: 1 });
 * const client = createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[0]! });
 * console.log(await client.getBlockNumber());
 * ```
 */
import {
  createTransport,
  createWalletClient,
  defineChain,
  http,
  keccak256,
  publicActions,
} from "viem";
import type { Account, Chain, Hex, Transport } from "viem";
import { LOG_QUERY_BLOCKS, logRanges } from "./log_ranges.ts";

/** The chain definition for a JSON-RPC endpoint; ARTH is the native coin. */
export function arthaChain(rpcUrl: string, chainId: number): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? "ArthaChain devnet" : "ArthaChain",
    nativeCurrency: { name: "ARTH", symbol: "ARTH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export interface ArthaClientOptions {
  rpcUrl: string;
  chainId: number;
  account: Account;
  /** Polling interval for receipts and the head in ms (default: 50 on a local devnet, chain id
   * 31337, which mines as it receives; else 1,000, about an L2's block time). */
  pollingInterval?: number;
  /**
   * The most wei a unit of gas may cost this account (default: whatever the node asks). A send
   * whose fee the node fills above it is refused before it is signed (lib/chain/send_contract.ts).
   */
  maxFeePerGas?: bigint;
  /**
   * How long a send waits for its receipt once the node has its transaction, in ms (default
   * 180,000, viem's): past it the send is a SentUnconfirmedError naming the transaction.
   */
  receiptTimeoutMs?: number;
}

/** The fee cap a worker's account takes unless told otherwise (`--max-gas-price`, the join
 * page's pasted key): far above an EVM chain's usual fees, far below a drain. */
export const DEFAULT_MAX_GAS_PRICE_GWEI = 1_000n;

/**
 * HTTP JSON-RPC that does not report a sent transaction as failed when only its answer was lost.
 * A gateway's 5xx or a timeout after the node accepted a signed transaction would fail the send
 * (viem never retries a send) while the transaction is mined, and a caller that tried again would
 * sign a second one: a second stake, a second payment. A signed transaction's hash is known before
 * it is sent, so a failed send whose hash the node has is the send's success; any other failure
 * stays an error. A read that anvil refuses with its block-range race (BlockOutOfRangeError for
 * "latest" while it mines a block: foundry-rs/foundry#10709, #4843) is asked again, up to 3
 * times: a read changes nothing, so asking twice is safe.
 */
export function httpWithSendRecovery(rpcUrl: string): Transport {
  return (options) => {
    // The plain HTTP call (no retries, no error mapping): createTransport below adds both once,
    // as http() does.
    const inner = http(rpcUrl, { batch: false })(options);
    type Call = { method: string; params?: unknown };
    const send = inner.config.request as (call: Call, opts?: unknown) => Promise<unknown>;
    const read = async (call: Call, opts?: unknown) => {
      for (let attempt = 0;; attempt++) {
        try {
          return await send(call, opts);
        } catch (e) {
          if (attempt >= BLOCK_RACE_RETRIES || !blockRangeRace(e)) throw e;
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
        }
      }
    };
    const request = async (call: Call, opts?: unknown) => {
      if (call.method === "eth_getLogs") return await getLogsInParts(read, call, opts);
      if (!call.method.startsWith("eth_send")) return await read(call, opts);
      if (call.method !== "eth_sendRawTransaction") return await send(call, opts);
      const hash = keccak256((call.params as [Hex])[0]);
      try {
        return await send(call, opts);
      } catch (e) {
        const known = await send({ method: "eth_getTransactionByHash", params: [hash] })
          .catch(() => null);
        if (known) return hash;
        throw e;
      }
    };
    return createTransport(
      { ...inner.config, request: request as typeof inner.request },
      inner.value,
    );
  };
}

/** A log filter as `eth_getLogs` takes it. */
interface LogFilter {
  fromBlock?: string;
  toBlock?: string;
  blockHash?: string;
}

/**
 * `eth_getLogs` over more than {@link LOG_QUERY_BLOCKS} blocks asked as consecutive queries of at
 * most that many, their logs joined in order: most public RPCs refuse a wider query (their caps
 * run from about 2,000 to 10,000 blocks), and every scan that starts at block 0 (a job's
 * challenges and disputes at `job cancel`, a committee's candidates, the data-access log) would
 * otherwise fail on such an RPC once the chain is that long. An open end ("latest", or none) is
 * the head read first; a block-hash filter, a tag start and a narrow range go as they are.
 */
async function getLogsInParts(
  read: (call: { method: string; params?: unknown }, opts?: unknown) => Promise<unknown>,
  call: { method: string; params?: unknown },
  opts?: unknown,
): Promise<unknown> {
  const filter = (call.params as LogFilter[] | undefined)?.[0];
  const from = blockNumberOf(filter?.fromBlock ?? "latest");
  if (!filter || filter.blockHash || from === undefined) return await read(call, opts);
  const openEnd = filter.toBlock === undefined || filter.toBlock === "latest";
  const to = openEnd
    ? BigInt(await read({ method: "eth_blockNumber" }) as string)
    : blockNumberOf(filter.toBlock!);
  if (to === undefined || to - from < LOG_QUERY_BLOCKS) return await read(call, opts);
  const logs: unknown[] = [];
  for (const [a, b] of logRanges(from, to)) {
    const part = { ...filter, fromBlock: `0x${a.toString(16)}`, toBlock: `0x${b.toString(16)}` };
    logs.push(...await read({ ...call, params: [part] }, opts) as unknown[]);
  }
  return logs;
}

/** A block number of a filter (hex, or "earliest"); undefined for another tag. */
function blockNumberOf(tag: string): bigint | undefined {
  if (tag === "earliest") return 0n;
  return /^0x[0-9a-fA-F]+$/.test(tag) ? BigInt(tag) : undefined;
}

/** Times a read refused by the devnet's block-range race is asked again. */
const BLOCK_RACE_RETRIES = 3;

/** Whether `e` is anvil's BlockOutOfRangeError (its answer's message, or viem's details). */
function blockRangeRace(e: unknown): boolean {
  const { message, details } = (e ?? {}) as { message?: unknown; details?: unknown };
  return [message, details].some((m) => typeof m === "string" && m.includes("BlockOutOfRange"));
}

/** The chain id of a local devnet (anvil's default; lib/chain/devnet.ts). */
const DEVNET_CHAIN_ID = 31337;
/** How often a client of a chain with real blocks asks for receipts and the head (ms). */
const REAL_CHAIN_POLLING_MS = 1_000;

/**
 * A wallet client extended with public actions, bound to one account. Its polling interval is
 * also how long viem keeps a read head (getBlockNumber): a caller that needs the head as it is
 * now passes `{ cacheTime: 0 }`.
 */
export function createArthaClient(options: ArthaClientOptions) {
  // Found in the chain audit: polling every 50 ms everywhere, one heartbeat waiting for a 12 s
  // block asked the node for its head 225 times (a metered RPC's quota, a rate limit's 429s).
  // viem's own default (4 s) added seconds to every send on a chain of 2 s blocks, several a
  // round close; a second is about an L2's block and 12 asks a 12 s block.
  const pollingInterval = options.pollingInterval ??
    (options.chainId === DEVNET_CHAIN_ID ? 50 : REAL_CHAIN_POLLING_MS);
  return createWalletClient({
    account: options.account,
    chain: arthaChain(options.rpcUrl, options.chainId),
    transport: httpWithSendRecovery(options.rpcUrl),
    pollingInterval,
  }).extend(publicActions).extend(() => ({
    feeCap: options.maxFeePerGas,
    receiptTimeoutMs: options.receiptTimeoutMs ?? 180_000,
  }));
}

/** The client type every chain verb takes first. */
export type ArthaClient = ReturnType<typeof createArthaClient>;
