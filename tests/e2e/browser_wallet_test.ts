/**
 * A browser tab whose operator is its injected wallet (an EIP-1193 provider forwarding to anvil,
 * tests/e2e/browser_wallet.ts) beside a Deno laptop, on a 2-node, 1-round job: the tab stakes and
 * registers through the wallet, binds its node key with the same signed NodeBinding as the Deno
 * worker, trains and commits through the wallet; at finalize its operator is credited, and the
 * tab's Withdraw button pulls the reward through the wallet. Skipped without Chromium (CI sets
 * ARTHA_REQUIRE_CHROMIUM).
 */
import assert from "node:assert/strict";
import { type Abi, type Hex, toFunctionSelector } from "viem";
import { abis } from "../../lib/chain/contracts.ts";
import { getNodeCert } from "../../lib/chain/get_node_cert.ts";
import { jobReward } from "../../lib/worker/rewards.ts";
import { findChromium, joinTabs } from "../../lib/browser/join_tabs.ts";
import { connectInjectedWallet } from "../../lib/browser/injected_wallet.ts";
import {
  type BrowserRun,
  committedResult,
  escrowJob,
  openBrowserRun,
  roundUpdates,
  startLaptop,
} from "./browser_fixture.ts";
import { anvilWallet, type WalletCall, walletCalls } from "./browser_wallet.ts";

const CHROMIUM = await findChromium();
const ZERO32 = `0x${"00".repeat(32)}`;

/** The contract functions the wallet's transactions called, as `contract.function`. */
function sentThrough(run: BrowserRun, calls: WalletCall[]): string[] {
  const contracts = { registry: abis.registry, proofs: abis.proofs, jobs: abis.jobs } as const;
  return calls.filter((c) => c.method === "eth_sendTransaction").map((c) => {
    for (const [name, abi] of Object.entries(contracts)) {
      if (run.addresses[name as keyof typeof contracts].toLowerCase() !== c.to?.toLowerCase()) {
        continue;
      }
      const fn = (abi as Abi).find((f) =>
        f.type === "function" && toFunctionSelector(f) === c.selector
      );
      return `${name}.${fn && "name" in fn ? fn.name : c.selector}`;
    }
    return `${c.to}.${c.selector}`;
  });
}

/** What the chain credited to the wallet account (AIJobManager.claimableOf). */
function claimableOf(run: BrowserRun, account: Hex): Promise<bigint> {
  const { jobs } = run.addresses;
  return run.chain.readContract({
    address: jobs,
    abi: abis.jobs,
    functionName: "claimableOf",
    args: [account],
  });
}

Deno.test({
  name: "browser wallet: a tab's injected wallet stakes and commits; the tab is paid and withdraws",
  ignore: !CHROMIUM && Deno.env.get("ARTHA_REQUIRE_CHROMIUM") !== "1",
  async fn() {
    await using run = await openBrowserRun(2);
    const [laptopAcct, walletAcct] = run.accounts;
    const operator = walletAcct!.address;
    const { jobId, specCid } = await escrowJob(run, { nodes: 2, rounds: 1 });
    await using _laptop = await startLaptop(run, laptopAcct!);
    const wallet = { wallet: anvilWallet(run.rpcUrl, operator) };
    await using tabs = await joinTabs(run.url, [wallet], { executablePath: CHROMIUM! });
    const [tabNode] = tabs.nodes as [Hex];
    const page = tabs.pages[0]!;
    assert.equal(await page.getAttribute("body", "data-wallet"), "1");
    const cert = await getNodeCert(run.chain, { addresses: run.addresses, nodePubkey: tabNode });
    assert.equal(cert.operator.toLowerCase(), operator.toLowerCase(), "staked by the wallet");

    // Execute: the round, closed with both updates; the job is finalized.
    const started = await run.api("/assign", { jobId, specCid });
    assert.ok(started.assigned.includes(tabNode), "the tab is assigned");
    await roundUpdates(run, { jobId, round: 0, updates: 2 }, () => tabs.describe(page));
    const [closed] = await run.api("/aggregate", { jobId });
    assert.equal(closed.status, "closed");
    assert.equal(closed.updates, 2);
    assert.notEqual(await committedResult(run, { jobId, round: 0, node: tabNode }), ZERO32);
    const [fin] = await run.api("/finalize", { jobId });
    assert.equal(fin.status, "finalized");

    // Assert: the tab's node is paid, and the tab withdraws it through the wallet.
    const { reward } = await jobReward(run.chain, {
      addresses: run.addresses,
      jobId,
      nodePubkey: tabNode,
    });
    assert.ok(reward > 0n, "the tab's node earned a reward at finalize");
    const claimable = await claimableOf(run, operator);
    assert.ok(claimable >= reward, `claimable ${claimable} < reward ${reward}`);
    await page.click("#join-withdraw");
    await page.locator(`body[data-withdrawn='${claimable}']`)
      .waitFor({ state: "attached", timeout: 60_000 })
      .catch(async (e) => {
        throw new Error(await tabs.describe(page), { cause: e });
      });
    assert.equal(await claimableOf(run, operator), 0n, "withdrawn");
    const calls = await page.evaluate(walletCalls);
    assert.ok(calls.some((c) => c.method === "eth_requestAccounts"));
    const sent = sentThrough(run, calls);
    for (const fn of ["registry.registerNode", "proofs.commitRound", "jobs.withdraw"]) {
      assert.ok(sent.includes(fn), `${fn} went through the wallet (sent: ${sent.join(", ")})`);
    }
    assert.deepEqual(tabs.errors, []);
  },
});

/** A wallet on `chainId` that knows `known` chains and records what it was asked. */
function fakeWallet(o: { accounts: Hex[]; chainId: string; known: string[]; adds: boolean }) {
  const asked: { method: string; params?: unknown }[] = [];
  let chainId = o.chainId;
  const provider = {
    asked,
    request({ method, params }: { method: string; params?: unknown }): Promise<unknown> {
      asked.push({ method, params });
      const [arg] = (params ?? []) as { chainId: string }[];
      if (method === "eth_requestAccounts") return Promise.resolve(o.accounts);
      if (method === "eth_chainId") return Promise.resolve(chainId);
      if (method === "wallet_switchEthereumChain" && o.known.includes(arg!.chainId)) {
        chainId = arg!.chainId;
        return Promise.resolve(null);
      }
      if (method === "wallet_switchEthereumChain") {
        return Promise.reject(Object.assign(new Error("Unrecognized chain ID"), { code: 4902 }));
      }
      if (method === "wallet_addEthereumChain" && o.adds) {
        chainId = arg!.chainId;
        return Promise.resolve(null);
      }
      return Promise.reject(Object.assign(new Error("User rejected"), { code: 4001 }));
    },
  };
  return provider;
}

Deno.test("browser wallet: connecting puts the wallet on the coordinator's chain or refuses", async (t) => {
  const account: Hex = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
  const chain = { chainId: 31337, rpcUrl: "http://127.0.0.1:8545" };
  await t.step(
    "a wallet that does not know the chain adds it; the account is the wallet's",
    async () => {
      const wallet = fakeWallet({ accounts: [account], chainId: "0x1", known: [], adds: true });
      const client = await connectInjectedWallet(wallet, chain);
      assert.equal(client.account.address, account);
      assert.equal(client.account.type, "json-rpc");
      const added = wallet.asked.find((a) => a.method === "wallet_addEthereumChain");
      assert.deepEqual((added?.params as { rpcUrls: string[] }[])[0]!.rpcUrls, [chain.rpcUrl]);
    },
  );
  await t.step("a wallet already on the chain is not asked to switch", async () => {
    const wallet = fakeWallet({ accounts: [account], chainId: "0x7a69", known: [], adds: false });
    await connectInjectedWallet(wallet, chain);
    assert.deepEqual(wallet.asked.map((a) => a.method), ["eth_requestAccounts", "eth_chainId"]);
  });
  await t.step("a refused chain or no account is an error, not another chain", async () => {
    const refuses = fakeWallet({ accounts: [account], chainId: "0x1", known: [], adds: false });
    await assert.rejects(connectInjectedWallet(refuses, chain), /User rejected/);
    const empty = fakeWallet({ accounts: [], chainId: "0x7a69", known: [], adds: false });
    await assert.rejects(connectInjectedWallet(empty, chain), /granted no account/);
  });
});
