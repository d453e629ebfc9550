/**
 * The checks before spending, in process against a local anvil: a coordinator on another chain
 * or deployment is named with both sides, an operator without funds is refused before any
 * transaction, and a coordinator whose chain stops answering replies 503 CHAIN_UNAVAILABLE
 * (which clients retry) instead of a bare 500.
 */
import { httpCoordinator } from "../../lib/worker/client.ts";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type Devnet, freePort, startDevnet } from "../../lib/chain/devnet.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { type LocalCoordinator, startLocalCoordinator } from "../../functions/local.ts";
import { createRouter } from "../../functions/router.ts";
import {
  checkChain,
  checkCoordinator,
  checkFunds,
  PreflightError,
} from "../../lib/network/preflight.ts";
import { registerWorker } from "../../lib/worker/register.ts";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import { getOperatorNodes } from "../../lib/chain/get_operator_nodes.ts";

const names = { rpcUrl: "ARTHA_RPC_URL", chainId: "ARTHA_CHAIN_ID" };

/** A chain with the contracts, a coordinator in-process and served on 127.0.0.1. */
interface Fixture {
  net: Devnet;
  client: ArthaClient;
  addresses: ArthaAddresses;
  dir: string;
  local: LocalCoordinator;
  url: string;
  deployment: { addresses: ArthaAddresses; name: string };
}

async function coordinatorMismatch(f: Fixture): Promise<void> {
  const { net, url, deployment } = f;
  const info = await checkCoordinator(url, {
    chainId: net.chainId,
    chainIdName: "--chain-id",
    deployment,
  });
  assert.equal(info.coordinator, f.client.account.address);
  await assert.rejects(
    checkCoordinator(url, { chainId: 5, chainIdName: "--chain-id" }),
    (e) =>
      e instanceof PreflightError && e.code === "COORDINATOR_MISMATCH" &&
      /runs on chain id 31337, but --chain-id is 5/.test(e.message),
  );
  const other = { ...f.addresses, registry: `0x${"22".repeat(20)}` as const };
  await assert.rejects(
    checkCoordinator(url, {
      chainId: net.chainId,
      chainIdName: "ARTHA_CHAIN_ID",
      deployment: { addresses: other, name: "--addresses" },
    }),
    /its registry is 0x[0-9a-f]{40}, but --addresses has 0x2222/,
  );
  const closed = `http://127.0.0.1:${freePort()}`;
  await assert.rejects(
    checkCoordinator(closed, { chainId: net.chainId, chainIdName: "ARTHA_CHAIN_ID" }),
    (e) =>
      e instanceof PreflightError && e.code === "COORDINATOR_UNREACHABLE" &&
      e.message.includes(closed) && e.message.includes("start one with `deno task serve`"),
  );
  // Through the clients' fetch too (job status, the worker): the way out is named.
  await assert.rejects(
    httpCoordinator(closed)("/status"),
    new RegExp(`Cannot reach the coordinator at ${closed}/status: .*start one with`),
  );
}

async function poorOperatorRefused(f: Fixture): Promise<void> {
  const { net, addresses } = f;
  const poor = createArthaClient({ ...net, account: privateKeyToAccount(generatePrivateKey()) });
  await assert.rejects(
    checkFunds(poor, { address: poor.account.address, need: 1n, action: "stake" }),
    /Cannot stake: account 0x[0-9a-fA-F]{40} holds 0 ARTH/,
  );
  const coordinator = new CoordinatorClient(f.local.call);
  await assert.rejects(
    registerWorker(poor, coordinator, { addresses, chainId: net.chainId, key: generateNodeKey() }),
    (e) => e instanceof PreflightError && e.code === "INSUFFICIENT_FUNDS",
  );
  const operator = poor.account.address;
  assert.deepEqual(await getOperatorNodes(f.client, { addresses, operator }), []);
}

async function chainAwayIs503(f: Fixture): Promise<void> {
  const away = createArthaClient({
    rpcUrl: `http://127.0.0.1:${freePort()}`,
    chainId: f.net.chainId,
    account: f.net.accounts[0]!,
  });
  await Deno.mkdir(`${f.dir}/away`);
  await using cut = await startLocalCoordinator({
    dir: `${f.dir}/away`,
    client: away,
    addresses: f.addresses,
    chainId: f.net.chainId,
  });
  const res = await cut.postAs(away, "/assign", { jobId: `0x${"ab".repeat(32)}`, specCid: "x" });
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.error.code, "CHAIN_UNAVAILABLE");
  assert.doesNotMatch(body.error.message, /127\.0\.0\.1/, "the RPC URL is not shown");
}

Deno.test({
  name: "preflight: coordinator, funds and a chain that stops answering",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    // Prepare
    await using net = await startDevnet({ accounts: 2 });
    const client = createArthaClient({ ...net, account: net.accounts[0]! });
    const addresses = await deployArtha(client);
    const dir = await Deno.makeTempDir({ prefix: "artha-preflight-" });
    await using local = await startLocalCoordinator({
      dir,
      client,
      addresses,
      chainId: net.chainId,
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createRouter(local.ctx),
    );
    const url = `http://127.0.0.1:${server.addr.port}`;
    const deployment = { addresses, name: "ARTHA_ADDRESSES" };
    const f: Fixture = { net, client, addresses, dir, local, url, deployment };
    try {
      await t.step("the chain and its contracts pass", async () => {
        await checkChain({ rpcUrl: net.rpcUrl, chainId: net.chainId, names }, { deployment });
      });
      await t.step(
        "a coordinator on another chain id or deployment is named",
        () => coordinatorMismatch(f),
      );
      await t.step(
        "an operator without funds is refused before staking",
        () => poorOperatorRefused(f),
      );
      await t.step("a chain that stops answering is a 503 clients retry", () => chainAwayIs503(f));
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
