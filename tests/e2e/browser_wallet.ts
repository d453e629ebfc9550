/**
 * A real EIP-1193 provider for a Chromium tab, as a browser wallet injects it: `window.ethereum`
 * forwards every request to anvil's JSON-RPC, where the granted account is one of anvil's unlocked
 * development accounts, so anvil itself signs what `eth_sendTransaction` sends. It grants that one
 * account, switches only to anvil's chain (EIP-3085 error 4902 otherwise), refuses transactions
 * from any other account (EIP-1193 4100) and, as MetaMask does, `eth_signTransaction` (4200: a
 * browser wallet sends, it does not hand out signed transactions), and records each request so
 * a test can see what went through the wallet.
 */
import type { Address } from "viem";

/** One request the tab made of the wallet (a transaction's target and selector). */
export interface WalletCall {
  method: string;
  to?: Address;
  selector?: string;
}

/** The init script (run before the page's own) that injects the wallet. */
export function anvilWallet(rpcUrl: string, address: Address): string {
  return `(${installWallet.toString()})(${JSON.stringify(rpcUrl)}, ${JSON.stringify(address)});`;
}

/** The wallet's recorded requests, read with `page.evaluate(walletCalls)`. */
export function walletCalls(): WalletCall[] {
  return (globalThis as unknown as { ethereum: { calls: WalletCall[] } }).ethereum.calls;
}

/** Runs in the page: serialised by {@link anvilWallet}, so it uses nothing from this module. */
function installWallet(rpcUrl: string, address: string): void {
  type Params = { to?: string; from?: string; data?: string; chainId?: string }[];
  const calls: { method: string; to?: string; selector?: string }[] = [];
  let id = 0;
  const fail = (message: string, code: number, data?: unknown) =>
    Object.assign(new Error(message), { code, data });
  const rpc = async (method: string, params: unknown) => {
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params ?? [] }),
    });
    const body = await res.json();
    if (body.error) throw fail(body.error.message, body.error.code, body.error.data);
    return body.result;
  };
  const request = async ({ method, params }: { method: string; params?: Params }) => {
    const tx = method === "eth_sendTransaction" ? params?.[0] : undefined;
    calls.push({ method, to: tx?.to, selector: tx?.data?.slice(0, 10) });
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
    if (method === "eth_signTransaction") throw fail(`The method ${method} is not supported`, 4200);
    if (method === "wallet_switchEthereumChain") {
      if (params?.[0]?.chainId === await rpc("eth_chainId", [])) return null;
      throw fail("Unrecognized chain ID", 4902);
    }
    if (tx && tx.from?.toLowerCase() !== address.toLowerCase()) {
      throw fail("The requested account has not been authorized by the user", 4100);
    }
    return await rpc(method, params);
  };
  Object.assign(globalThis, { ethereum: { calls, request, on() {}, removeListener() {} } });
}
