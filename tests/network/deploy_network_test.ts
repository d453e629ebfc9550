/**
 * `deno task deploy` from the side of the deployer whose file cannot be written after the
 * deployment is paid for (found in the CLI audit: the addresses were lost with the file).
 */
import assert from "node:assert/strict";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { deployNetwork } from "../../lib/network/deploy_network.ts";

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

Deno.test({
  name: "victim: addresses that cannot be written after the deployment are printed, not lost",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Prepare: the file's folder is a file, so the write fails after every transaction is sent.
    await using net = await startDevnet({ accounts: 1 });
    const blocker = await Deno.makeTempFile();
    const out = `${blocker}/addresses.json`;
    const lines: string[] = [];
    const settings = {
      rpcUrl: net.rpcUrl,
      chainId: net.chainId,
      names: { rpcUrl: "--rpc", chainId: "--chain-id" },
      privateKey: KEY as `0x${string}`,
      out,
      settlementDelay: 0,
      coordinators: [],
    };
    try {
      // Execute
      const failed = await deployNetwork(settings, (l) => lines.push(l)).catch((e) => e);
      // Assert: the error names the file and carries the addresses; the log has their JSON.
      assert.ok(failed instanceof Error);
      assert.match(failed.message, new RegExp(`Cannot write the addresses to ${out} .*deployed`));
      const printed = JSON.parse(lines.at(-1)!);
      assert.match(printed.registry, /^0x[0-9a-fA-F]{40}$/);
      assert.ok(failed.message.includes(printed.registry));
      assert.equal(failed.message.split("\n").length, 1);
    } finally {
      await Deno.remove(blocker);
    }
  },
});
