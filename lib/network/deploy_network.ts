/**
 * `deno task deploy`: after checking the chain answers with the configured chain id and the
 * deployer can pay, deploys and wires the eight contracts (lib/chain/deploy.ts), then writes
 * their addresses as JSON, the file every other command reads (ARTHA_ADDRESSES).
 *
 * @example
 * ```ts ignore
 * import { deployNetwork } from "./deploy_network.ts";
 * const addresses = await deployNetwork(readDeploySettings([]));
 * ```
 */
import { dirname } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import type { Address } from "viem";
import { createArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { deployArtha } from "../chain/deploy.ts";
import type { DeploySettings } from "../config.ts";
import { checkChain, checkFunds } from "./preflight.ts";

/**
 * Deploys the contracts and writes `settings.out`; returns the addresses. When the file cannot
 * be written, the addresses are logged and named in the error.
 */
export async function deployNetwork(
  settings: DeploySettings,
  log: (line: string) => void = () => {},
): Promise<ArthaAddresses> {
  await checkChain(settings);
  const account = privateKeyToAccount(settings.privateKey);
  const client = createArthaClient({ rpcUrl: settings.rpcUrl, chainId: settings.chainId, account });
  await checkFunds(client, { address: account.address, need: 0n, action: "deploy" });
  log(`deploying the eight contracts from ${account.address} on chain ${settings.chainId}...`);
  const addresses = await deployArtha(client, {
    // The deployer coordinates too; the owner has no coordinator rights of its own.
    coordinators: [account.address, ...settings.coordinators as Address[]],
    settlementDelay: settings.settlementDelay,
  });
  const json = JSON.stringify(addresses, null, 2) + "\n";
  try {
    await Deno.mkdir(dirname(settings.out), { recursive: true });
    await Deno.writeTextFile(settings.out, json);
  } catch (e) {
    // The deployment is sent and paid for by now: its addresses must outlive the file's failure.
    log(json.trimEnd());
    throw new Error(
      `Cannot write the addresses to ${settings.out} (${(e as Error).message}); the contracts ` +
        `are deployed, save their addresses as a file: ${JSON.stringify(addresses)}`,
    );
  }
  return addresses;
}
