/**
 * A local chain for a network on one machine: anvil on 127.0.0.1 with funded development
 * accounts, up until Ctrl-C.
 *
 *   deno task chain                       # http://127.0.0.1:8545, chain id 31337
 *   deno task chain --port 8546 --accounts 20 --balance 1000
 *
 * Flags: --port (default ARTHA_RPC_URL's port, else 8545), --chain-id (ARTHA_CHAIN_ID, 31337),
 * --accounts N (10), --balance ARTH (10000). Any other EVM chain works too: skip this and set
 * ARTHA_RPC_URL and ARTHA_CHAIN_ID for the other commands.
 */
import { readChainSettings } from "./lib/config.ts";
import { runCli } from "./lib/network/cli.ts";
import { devAccountLines, startLocalChain } from "./lib/network/local_chain.ts";

async function main(args: string[]): Promise<void> {
  const settings = readChainSettings(args);
  const net = await startLocalChain(settings);
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, resolve);
  });
  console.log(`chain ${net.chainId} listening on ${net.rpcUrl} (anvil; Ctrl-C stops it)`);
  console.log(
    `funded development accounts, ${settings.balanceArth} ARTH each ` +
      "(public test keys: use them on this devnet only):",
  );
  for (const line of devAccountLines(net)) console.log(line);
  await stopped;
  await net.stop();
  console.log("chain stopped");
}

if (import.meta.main) await runCli("start the chain", () => main(Deno.args));
