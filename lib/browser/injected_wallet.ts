/**
 * The operator account of a browser tab from its injected wallet (EIP-1193 `window.ethereum`:
 * MetaMask, Rabby, a devnet test provider): the account the wallet grants, the wallet switched to
 * the coordinator's chain, and a client whose transactions (stake, commit, attest, heartbeat,
 * withdraw) the wallet signs and sends with `eth_sendTransaction`. Reads and simulations go
 * straight to the chain's RPC: a wallet need not serve `eth_call` or receipts quickly, and asking
 * it would not change the answers.
 *
 * The node-key binding needs nothing from the wallet: it is the node key's Ed25519 signature over
 * the EIP-712 NodeBinding (lib/crypto/keys.ts signBinding), the same message the Deno worker
 * signs, and the registry checks the operator as the sender of `registerNode`.
 *
 * @example
 * ```ts ignore
 * import { connectInjectedWallet, injectedWallet } from "./injected_wallet.ts";
 * const provider = injectedWallet();
 * if (provider) {
 *   const client = await connectInjectedWallet(provider, { chainId: 31337, rpcUrl });
 *   console.log(client.account.address);
 * }
 * ```
 */
import { type Address, createWalletClient, custom, http, numberToHex, publicActions } from "viem";
import { arthaChain, type ArthaClient } from "../chain/client.ts";

/** An EIP-1193 provider, as far as the tab uses it. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

/**
 * The JSON-RPC methods answered by the wallet; everything else is asked of the chain's RPC. Any
 * signing method goes to the wallet, where the key is: a node must never be asked to sign (anvil
 * would, for its unlocked accounts; a real node refuses). Browser wallets send transactions with
 * `eth_sendTransaction` only: most refuse `eth_signTransaction`.
 */
const WALLET_METHODS = new Set([
  "eth_accounts",
  "eth_requestAccounts",
  "eth_chainId",
  "eth_sendTransaction",
  "wallet_sendTransaction",
  "eth_signTransaction",
  "eth_sign",
  "personal_sign",
  "eth_signTypedData_v4",
  "wallet_switchEthereumChain",
  "wallet_addEthereumChain",
]);

/** EIP-3085: the wallet does not know the chain (wallet_switchEthereumChain). */
const UNRECOGNIZED_CHAIN = 4902;

/** The page's injected wallet, if the browser has one. */
export function injectedWallet(): Eip1193Provider | undefined {
  const ethereum = (globalThis as { ethereum?: Eip1193Provider }).ethereum;
  return typeof ethereum?.request === "function" ? ethereum : undefined;
}

/**
 * Asks the wallet for an account and for the chain `chainId` (adding it with `rpcUrl` if the
 * wallet does not know it); returns a client sending through the wallet.
 *
 * @throws {Error} when the wallet grants no account or stays on another chain
 */
export async function connectInjectedWallet(
  provider: Eip1193Provider,
  chain: { chainId: number; rpcUrl: string },
): Promise<ArthaClient> {
  const accounts = await provider.request({ method: "eth_requestAccounts" }) as Address[];
  const address = accounts[0];
  if (!address) throw new Error("Cannot use the wallet: it granted no account");
  await switchChain(provider, chain);
  const rpc = http(chain.rpcUrl, { batch: false });
  const wallet = custom(provider);
  const definition = arthaChain(chain.rpcUrl, chain.chainId);
  const client = createWalletClient({
    account: { address, type: "json-rpc" },
    chain: definition,
    transport: (params) => {
      const reads = rpc(params);
      const signs = wallet(params);
      return {
        ...signs,
        request: (args, options) =>
          WALLET_METHODS.has(args.method)
            ? signs.request(args, options)
            : reads.request(args, options),
      };
    },
    pollingInterval: 50,
  }).extend(publicActions);
  // The chain verbs take ArthaClient, typed by createArthaClient's http transport; the transport's
  // type is all that differs and no verb reads it.
  return client as unknown as ArthaClient;
}

/** Puts the wallet on `chainId`, adding the chain first when the wallet does not know it. */
async function switchChain(
  provider: Eip1193Provider,
  chain: { chainId: number; rpcUrl: string },
): Promise<void> {
  const chainId = numberToHex(chain.chainId);
  if (await provider.request({ method: "eth_chainId" }) === chainId) return;
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (e) {
    if ((e as { code?: number }).code !== UNRECOGNIZED_CHAIN) throw e;
    const { name, nativeCurrency } = arthaChain(chain.rpcUrl, chain.chainId);
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [{ chainId, chainName: name, nativeCurrency, rpcUrls: [chain.rpcUrl] }],
    });
  }
  const now = await provider.request({ method: "eth_chainId" });
  if (now !== chainId) {
    throw new Error(
      `Cannot use the wallet: it is on chain ${now}, the coordinator's is ${chainId}`,
    );
  }
}
