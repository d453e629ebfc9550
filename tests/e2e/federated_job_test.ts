/**
 * End to end: a small job trained by workers running as separate processes (`worker.ts`),
 * talking HTTP to the coordinator functions, also a separate process (`functions/router.ts`),
 * on a local anvil chain. Mid-run, 30% of the workers are killed: their tasks move to spare
 * nodes and the job still completes. The coordinator is killed during an aggregation and
 * restarted: no round is counted twice.
 */
import assert from "node:assert/strict";
import { bytesToHex, parseEther } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { createArthaClient } from "../../lib/chain/client.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, JobStatus } from "../../lib/chain/contracts.ts";
import { submitTrain } from "../../lib/chain/submit_train.ts";
import { jobSpecHash, workTerms } from "../../lib/job/job_spec.ts";
import { prepareJob } from "../../lib/job/job_owner.ts";
import { openFsStore } from "../../lib/store/store.ts";
import { loadBrownShards } from "../../kernel/data.ts";
import type { JobRecord } from "../../lib/coordinator/state.ts";

const WORKERS = 10;
const KILLED = 3;
const SPARES = 3;
const ROUNDS = 3;
const root = new URL("../../", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "a federated job completes with 30% of worker processes killed and a coordinator restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "artha-e2e-" });
    const procs: Deno.ChildProcess[] = [];
    await using net = await startDevnet({ accounts: 2 + WORKERS + SPARES, balanceArth: 1000 });
    try {
      const [coordAcct, ownerAcct, ...workerAccts] = net.accounts;
      const coordinator = createArthaClient({
        rpcUrl: net.rpcUrl,
        chainId: net.chainId,
        account: coordAcct!,
      });
      const owner = createArthaClient({
        rpcUrl: net.rpcUrl,
        chainId: net.chainId,
        account: ownerAcct!,
      });
      const addresses = await deployArtha(coordinator, { settlementDelay: 0 });
      const addressesFile = `${dir}/addresses.json`;
      await Deno.writeTextFile(addressesFile, JSON.stringify(addresses));

      // The job owner publishes a tiny job in the coordinator's SVDB directory.
      const store = await openFsStore(`${dir}/svdb`);
      const { spec, specCid } = await prepareJob(store, {
        model: { kind: "gpt", maxT: 16, layers: 1, heads: 2, width: 16 },
        shards: loadBrownShards().slice(0, 5),
        rounds: ROUNDS,
        localSteps: 3,
        B: 4,
        T: 16,
        deadlineMs: 4_000,
      });
      await store.close();
      const job = await submitTrain(owner, {
        addresses,
        budget: parseEther("20"),
        terms: {
          modelCid: spec.initialWeights,
          datasetCid: spec.shards[0]!.cid,
          paramsHash: jobSpecHash(spec),
          rounds: ROUNDS,
          nodesWanted: WORKERS,
          redundancy: 1,
          baseRatePerSecond: parseEther("0.001"),
          targetImprovementBps: 100,
          ...workTerms(spec),
        },
      });

      // The coordinator: all functions in one process, state in KV and SVDB on disk.
      const port = freePort();
      const url = `http://127.0.0.1:${port}`;
      const startCoordinator = () => {
        const p = new Deno.Command(Deno.execPath(), {
          args: [
            "serve",
            "-A",
            "--host",
            "127.0.0.1",
            "--port",
            String(port),
            "functions/router.ts",
          ],
          cwd: root,
          env: {
            ARTHA_RPC_URL: net.rpcUrl,
            ARTHA_CHAIN_ID: String(net.chainId),
            ARTHA_PRIVATE_KEY: bytesToHex(coordAcct!.getHdKey().privateKey!),
            ARTHA_ADDRESSES: JSON.stringify(addresses),
            ARTHA_KV_PATH: `${dir}/coordinator.kv`,
            ARTHA_STORE_DIR: `${dir}/svdb`,
            ARTHA_CRON: "off",
          },
          stdout: "null",
          stderr: "null",
        }).spawn();
        procs.push(p);
        return p;
      };
      let coord = startCoordinator();
      const api = async (path: string, body?: unknown) => {
        const res = await fetch(
          `${url}${path}`,
          body === undefined ? {} : {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          },
        );
        const json = await res.json();
        if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
        return json;
      };
      await until("coordinator", () => api("/status"));

      // Laptops: one process each.
      const workers = workerAccts.map((acct, i) => {
        const p = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "worker.ts",
            "--coordinator",
            url,
            "--rpc",
            net.rpcUrl,
            "--chain-id",
            String(net.chainId),
            "--addresses",
            addressesFile,
            "--key",
            `${dir}/node${i}.key`,
            "--state",
            `${dir}/worker${i}.json`,
            "--poll",
            "200",
            "--heartbeat-ms",
            "1500",
            "--quiet",
          ],
          cwd: root,
          env: { ARTHA_PRIVATE_KEY: bytesToHex(acct.getHdKey().privateKey!) },
          stdout: "null",
          stderr: "null",
        }).spawn();
        procs.push(p);
        return p;
      });
      await until(
        "all workers bound",
        async () => (await api("/status")).nodes.length === WORKERS + SPARES,
        90_000,
      );

      const started = await api("/assign", { jobId: job.jobId, specCid }) as JobRecord;
      assert.equal(started.assigned.length, WORKERS);
      const assigned = new Set(started.assigned);

      const closeRound = async (round: number) => {
        const out = await until(`round ${round} closed`, async () => {
          const [o] = await api("/aggregate", { jobId: job.jobId });
          return o.status === "closed" && o;
        }, 90_000);
        assert.equal(out.round, round);
        return out;
      };

      // Round 0: everyone delivers (wait for all ten: at 8 the 80% quorum would close it).
      await until("all round-0 updates", async () => {
        const j = await api(`/status?job=${job.jobId}`);
        return j.round === 0 && j.roundUpdates === WORKERS;
      }, 90_000);
      const r0 = await closeRound(0);
      assert.equal(r0.updates, WORKERS);

      // Kill 30% of the assigned workers; an hour passes on chain; the rest keep heartbeating.
      const nodeKeys = await Promise.all(
        workerAccts.map((_, i) =>
          Deno.readTextFile(`${dir}/node${i}.key`).then((t) => JSON.parse(t).publicKey as string)
        ),
      );
      const victims = workers.map((p, i) => ({
        p,
        key: `0x${nodeKeys[i]!.replace(/^0x/, "")}`.toLowerCase(),
      }))
        .filter((v) => assigned.has(v.key as Hex)).slice(0, KILLED);
      for (const v of victims) v.p.kill("SIGKILL");
      await coordinator.request({ method: "evm_increaseTime" as never, params: [3700] as never });
      await coordinator.request({ method: "evm_mine" as never, params: [] as never });
      const survivors = started.assigned.filter((n) => !victims.some((v) => v.key === n));
      await until("survivors and spares live again", async () => {
        const status = await api("/status");
        const all = (status.nodes as { nodePubkey: Hex }[]).map((n) => n.nodePubkey).filter((n) =>
          !victims.some((v) => v.key === n)
        );
        const live = await Promise.all(
          all.map((n) =>
            coordinator.readContract({
              address: addresses.registry,
              abi: abis.registry,
              functionName: "isLive",
              args: [n],
            })
          ),
        );
        return live.every(Boolean);
      });

      // Round 1 closes at its deadline with the survivors; the killed nodes' tasks move to spares.
      await until("the survivors' round-1 updates", async () => {
        const j = await api(`/status?job=${job.jobId}`);
        return j.round === 1 && j.roundUpdates === survivors.length;
      }, 90_000);
      const r1 = await closeRound(1);
      assert.equal(r1.updates, survivors.length);
      assert.equal(r1.reason, "deadline");
      const afterR1 = await api(`/status?job=${job.jobId}`) as JobRecord;
      assert.equal(afterR1.reassigned.length, KILLED);
      for (const v of victims) assert.ok(!afterR1.assigned.includes(v.key as Hex));

      // Round 2: kill the coordinator while it aggregates, restart it, aggregate again.
      await until("round 2 updates", async () => {
        const j = await api(`/status?job=${job.jobId}`);
        return j.round === 2 && j.roundUpdates === WORKERS;
      }, 90_000);
      const inflight = fetch(`${url}/aggregate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jobId: job.jobId }),
      }).then((r) => r.body?.cancel()).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 40));
      coord.kill("SIGKILL");
      await coord.status;
      await inflight;
      coord = startCoordinator();
      await until("coordinator restarted", () => api("/status"));
      const final = await until("job completed", async () => {
        await api("/aggregate", { jobId: job.jobId }).catch(() => undefined);
        const j = await api(`/status?job=${job.jobId}`) as JobRecord;
        return j.status === "completed" && j;
      });
      assert.deepEqual(
        final.metrics.map((m) => m.round),
        [0, 1, 2],
        "each round counted exactly once",
      );
      const onChain = await coordinator.readContract({
        address: addresses.jobs,
        abi: abis.jobs,
        functionName: "getJob",
        args: [job.jobId],
      });
      assert.equal(onChain.currentRound, ROUNDS);
      assert.equal(onChain.latestCheckpointCid, final.globalCid);
      assert.ok(final.metrics.at(-1)!.valLoss < final.initialValLoss, "the model learned");

      const [fin] = await api("/finalize", { jobId: job.jobId }) as JobRecord[];
      assert.equal(fin!.status, "finalized");
      const settled = await coordinator.readContract({
        address: addresses.jobs,
        abi: abis.jobs,
        functionName: "getJob",
        args: [job.jobId],
      });
      assert.equal(settled.status, JobStatus.Finalized);
      // Killed nodes still earn for the round they delivered; everyone else for all theirs.
      for (const v of victims) {
        const op = await coordinator.readContract({
          address: addresses.jobs,
          abi: abis.jobs,
          functionName: "assignedOperator",
          args: [job.jobId, v.key as Hex],
        });
        assert.ok(
          await coordinator.readContract({
            address: addresses.jobs,
            abi: abis.jobs,
            functionName: "claimableOf",
            args: [op],
          }) > 0n,
        );
      }
    } finally {
      for (const p of procs) {
        try {
          p.kill("SIGKILL");
        } catch {
          // already exited
        }
        await p.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
