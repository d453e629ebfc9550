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
import { createWalletClient, defineChain, http, publicActions } from "viem";
import type { Account, Chain } from "viem";

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
  /** Polling interval for receipts in ms (default 50: anvil mines instantly). */
  pollingInterval?: number;
}

/** A wallet client extended with public actions, bound to one account. */
export function createArthaClient(options: ArthaClientOptions) {
  return createWalletClient({
    account: options.account,
    chain: arthaChain(options.rpcUrl, options.chainId),
    transport: http(options.rpcUrl, { batch: false }),
    pollingInterval: options.pollingInterval ?? 50,
  }).extend(publicActions);
}

/** The client type every chain verb takes first. */
export type ArthaClient = ReturnType<typeof createArthaClient>;
