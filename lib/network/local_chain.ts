/**
 * The local chain of a network on one machine (`deno task chain`): anvil on 127.0.0.1 at a fixed
 * port with funded development accounts, and the lines that tell the user which key is for what.
 * The keys derive from anvil's public test mnemonic: they hold devnet coins only.
 *
 * @example
 * ```ts
 * import { devAccountLines, startLocalChain } from "./local_chain.ts";
 * const settings = { port: 0, chainId: 31337, accounts: 3, balanceArth: 10 };
 * await using chain = await startLocalChain(settings);
 * console.assert(devAccountLines(chain).some((l) => l.includes("job owner")));
 * ```
 */
import { bytesToHex } from "viem";
import { type Devnet, startDevnet } from "../chain/devnet.ts";
import type { ChainSettings } from "../config.ts";
import { PreflightError } from "./preflight.ts";

/** What each development account is for in the README's walkthrough. */
const ROLES = ["deployer and coordinator", "job owner"];

/** Starts anvil on 127.0.0.1:`port` (0: a free port); refuses a port in use. */
export async function startLocalChain(settings: ChainSettings): Promise<Devnet> {
  if (settings.port !== 0) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port: settings.port }).close();
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
      throw new PreflightError(
        "RPC_UNREACHABLE",
        `Cannot start the chain: 127.0.0.1:${settings.port} is in use (a chain already ` +
          "running?); stop it, or choose another port with --port or " +
          "ARTHA_RPC_URL=http://127.0.0.1:<port>",
      );
    }
  }
  return await startDevnet({
    port: settings.port === 0 ? undefined : settings.port,
    chainId: settings.chainId,
    accounts: settings.accounts,
    balanceArth: settings.balanceArth,
  });
}

/** The funded accounts as lines: index, address, private key and role. */
export function devAccountLines(net: Devnet): string[] {
  return net.accounts.map((a, i) => {
    const key = bytesToHex(a.getHdKey().privateKey!);
    return `  ${String(i).padStart(2)}  ${a.address}  ${key}  ${ROLES[i] ?? "laptop"}`;
  });
}
