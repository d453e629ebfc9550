/**
 * What the browser end-to-end tests share: a local anvil chain with the contracts, the
 * coordinator in-process and served on a port (so a Chromium tab can open GET /join), a tiny job
 * escrowed by an owner, and Deno laptops (lib/worker/worker.ts) running their loop beside the tabs.
 */
import { parseEther } from "viem";
import type { Account, Hex } from "viem";
import type { HDAccount } from "viem/accounts";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses } from "../../lib/chain/contracts.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob, type PrepareJobOptions } from "../../lib/job/job_owner.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { loadBrownShards } from "../../kernel/data.ts";
import { httpCoordinator } from "../../lib/worker/client.ts";
import { Worker } from "../../lib/worker/worker.ts";
import { type LocalCoordinator, startLocalCoordinator } from "../../functions/local.ts";
import { createRouter } from "../../functions/router.ts";
import { until } from "./_until.ts";

/** The chain, the served coordinator and the accounts after the coordinator's and owner's. */
export interface BrowserRun extends AsyncDisposable {
  rpcUrl: string;
  chainId: number;
  /** The coordinator's account (deployer). */
  chain: ArthaClient;
  owner: ArthaClient;
  addresses: ArthaAddresses;
  local: LocalCoordinator;
  /** Where the coordinator is served (GET /join among its routes). */
  url: string;
  /** Accounts for laptops and tabs (anvil's, unlocked there). */
  accounts: HDAccount[];
  clientOf(account: Account): ArthaClient;
  // deno-lint-ignore no-explicit-any
  api: (path: string, body?: unknown) => Promise<any>;
}

/** Starts a devnet with `accounts` spare accounts, deploys, serves the coordinator. */
export async function openBrowserRun(accounts: number): Promise<BrowserRun> {
  const dir = await Deno.makeTempDir({ prefix: "artha-browser-" });
  const net = await startDevnet({ accounts: accounts + 2, balanceArth: 1000 });
  const clientOf = (account: Account) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account });
  const [coordAcct, ownerAcct, ...rest] = net.accounts;
  const chain = clientOf(coordAcct!);
  const addresses = await deployArtha(chain, { settlementDelay: 0 });
  const local = await startLocalCoordinator({
    dir,
    client: chain,
    addresses,
    chainId: net.chainId,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createRouter(local.ctx),
  );
  const close = async () => {
    await server.shutdown();
    await local.close();
    await net[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  };
  const owner = clientOf(ownerAcct!);
  return {
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    chain,
    owner,
    addresses,
    local,
    url: `http://127.0.0.1:${server.addr.port}`,
    accounts: rest,
    clientOf,
    api: apiOf(local, owner),
    [Symbol.asyncDispose]: close,
  };
}

/** JSON calls to the in-process coordinator; a non-2xx answer throws with its body. */
function apiOf(local: LocalCoordinator, owner: ArthaClient) {
  return async (path: string, body?: unknown) => {
    // A job is started by its owner alone (POST /assign, signed).
    const post = (p: string, b: unknown) =>
      p === "/assign" ? local.postAs(owner, p, b) : local.post(p, b);
    const res = await (body === undefined ? local.call(path) : post(path, body));
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/** The owner prepares a job of a tiny model for `nodes` nodes and escrows it. */
export async function escrowJob(
  run: BrowserRun,
  o: { nodes: number; rounds: number } & Partial<PrepareJobOptions>,
): Promise<{ jobId: Hex; specCid: string }> {
  const { nodes, ...options } = o;
  const { spec, specCid } = await prepareJob(run.local.ctx.store, {
    model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
    shards: loadBrownShards().slice(0, nodes),
    localSteps: 3,
    B: 2,
    T: 16,
    ...options,
  });
  const { jobId } = await submitTrain(run.owner, {
    addresses: run.addresses,
    budget: parseEther("5"),
    terms: {
      modelCid: spec.initialWeights,
      datasetCid: spec.shards[0]!.cid,
      paramsHash: jobSpecHash(spec),
      rounds: o.rounds,
      nodesWanted: nodes,
      redundancy: 1,
      baseRatePerSecond: parseEther("0.001"),
      targetImprovementBps: 100,
      ...workTerms(spec),
    },
  });
  return { jobId, specCid };
}

/** A Deno laptop registered and running its loop until disposed. */
export interface Laptop extends AsyncDisposable {
  worker: Worker;
}

/** Registers a laptop for `account` and runs its loop (heartbeats every 1.5 s: it stays live). */
export async function startLaptop(run: BrowserRun, account: Account): Promise<Laptop> {
  const worker = new Worker({
    coordinator: httpCoordinator(run.url),
    client: run.clientOf(account),
    addresses: run.addresses,
    chainId: run.chainId,
    key: generateNodeKey(),
    heartbeatEveryMs: 1500,
    onProgress: () => {},
  });
  await worker.register();
  const stop = new AbortController();
  const running = worker.run(stop.signal, 200);
  return {
    worker,
    [Symbol.asyncDispose]: async () => {
      stop.abort();
      await running;
    },
  };
}

/** Waits until round `round` of `jobId` has `updates` updates; `why` explains a timeout. */
export async function roundUpdates(
  run: BrowserRun,
  o: { jobId: Hex; round: number; updates: number },
  why: () => Promise<string>,
): Promise<void> {
  await until(`${o.updates} round-${o.round} updates`, async () => {
    const j = await run.api(`/status?job=${o.jobId}`);
    return j.round === o.round && j.roundUpdates >= o.updates;
  }, 120_000).catch(async (e) => {
    throw new Error(await why(), { cause: e });
  });
}

/** What `node` committed for a round on chain (zero: nothing). */
export function committedResult(
  run: BrowserRun,
  o: { jobId: Hex; round: number; node: Hex },
): Promise<Hex> {
  return run.chain.readContract({
    address: run.addresses.proofs,
    abi: abis.proofs,
    functionName: "resultOf",
    args: [o.jobId, o.round, o.node],
  });
}
