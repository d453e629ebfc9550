/**
 * Deploys the ArthaTrain contracts and writes their addresses, which the coordinator, the workers
 * and job owners read:
 *
 *   export ARTHA_PRIVATE_KEY=0x...        # the deployer; also authorised as coordinator
 *   deno task deploy                      # writes .artha/addresses.json
 *   deno task deploy --settlement-delay 0 --out addresses.json --coordinator-account 0x...
 *
 * Flags: --rpc (ARTHA_RPC_URL, default http://127.0.0.1:8545), --chain-id (ARTHA_CHAIN_ID,
 * 31337), --out FILE (ARTHA_ADDRESSES when it names a file, else .artha/addresses.json),
 * --settlement-delay SECONDS (how long rewards wait for late challenges; default 1 h),
 * --coordinator-account ADDRESS[,ADDRESS] (coordinators besides the deployer).
 */
import { readDeploySettings } from "./lib/config.ts";
import { runCli } from "./lib/network/cli.ts";
import { deployNetwork } from "./lib/network/deploy_network.ts";

async function main(args: string[]): Promise<void> {
  const settings = readDeploySettings(args);
  const addresses = await deployNetwork(settings, console.log);
  for (const [name, address] of Object.entries(addresses)) {
    console.log(`  ${name.padEnd(12)} ${address}`);
  }
  console.log(`addresses written to ${settings.out} (copy it to every laptop: --addresses FILE)`);
}

if (import.meta.main) await runCli("deploy", () => main(Deno.args));
