/**
 * The ArthaTrain worker: what a laptop runs to earn ARTH by training.
 *
 *   export ARTHA_PRIVATE_KEY=0x...         # the operator's EVM key (pays stake and gas)
 *   deno task worker                       # coordinator 127.0.0.1:8787, chain 127.0.0.1:8545
 *   deno task worker --coordinator https://coordinator.example --rpc https://rpc.example \
 *     --chain-id 1 --addresses addresses.json [--dir ~/.artha]
 *   deno task worker withdraw              # pull the rewards credited to the operator
 *   deno task worker settle 0x<jobId>      # a job whose coordinator stopped: abandon it once
 *                                          # it stalled, settle it, withdraw this node's pay
 *
 * Flags (environment variable used when the flag is absent):
 *   --coordinator URL    the coordinator's base URL (ARTHA_COORDINATOR, http://127.0.0.1:8787)
 *   --rpc URL            the chain's JSON-RPC endpoint (ARTHA_RPC_URL, http://127.0.0.1:8545)
 *   --chain-id N         the chain id (ARTHA_CHAIN_ID, default 31337)
 *   --addresses FILE     the deployment's contract addresses: a file or their JSON
 *                        (ARTHA_ADDRESSES, default .artha/addresses.json)
 *   --dir DIR            the node's folder: node.key and worker.json (default ~/.artha)
 *   --key FILE           the Ed25519 node key, created with mode 0600 if missing
 *   --state FILE         crash state, with residual files beside it
 *   --poll MS            wait between ticks when there is nothing to do (default 1000,
 *                        100 to 600000)
 *   --heartbeat-ms MS    minimum time between on-chain heartbeats (default 600000, 1000 to
 *                        3600000: the chain counts a node silent after its hour)
 *   --max-stake ARTH     the most registration may lock (ARTHA_MAX_STAKE, default 10)
 *   --max-gas-price GWEI no transaction is signed above it (ARTHA_MAX_GAS_PRICE, default 1000)
 *   --max-memory GIB     a task whose step needs more is refused (ARTHA_MAX_MEMORY, default
 *                        3/4 of the machine's memory)
 *   --quiet              print nothing but errors
 *
 * Before it spends anything it checks every setting (all problems in one line, exit status 2),
 * that the chain answers with the configured chain id and has the contracts, that the
 * coordinator answers on the same chain and deployment (it waits for it, backing off), and that
 * the operator can pay the stake. Then it creates (or loads) its Ed25519 node key, stakes and
 * registers on chain, binds the key to the operator account with the coordinator, heartbeats,
 * asks for tasks, downloads the model and its data shard by CID (checking every byte against the
 * CID), trains with the WASM kernel, signs proofs every N steps, uploads its update to SVDB,
 * commits the round on chain in one transaction, and posts the signed update. It shows each
 * step's loss and tokens/s, what it waits for, each round's validation loss, and the job's
 * improvement with this node's reward. After a crash it resumes: a finished update that was not
 * yet delivered is re-sent as is, never retrained or counted twice. It also answers challenges
 * and disputes on its recent commits, aggregates a cluster or validates a committee target when
 * the coordinator asks. SIGTERM or SIGINT stops it after the current tick.
 *
 * Started with the right to run programs (as `deno task worker` does), it relaunches itself with
 * the least permissions it needs (lib/worker/sandbox.ts): its coordinator and chain hosts, its
 * state folder (and its key file, when kept elsewhere), the kernel's WASM and the address file,
 * its ARTHA_* variables; a worker cannot read the rest of the owner's home directory, and a
 * --dir, --key or --state in the home directory itself (or above it) is refused. The key file is
 * checked (mode 0600, parses) with the other settings, before any network call.
 *
 * This file is the command line only; the worker itself is lib/worker/ (worker.ts ties client,
 * gateway, state, train, deliver, register, cluster and validate together; view.ts prints it).
 */
import { formatEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "./lib/chain/client.ts";
import { KeyFileError, loadNodeKey, loadOrCreateNodeKey } from "./lib/crypto/keys.ts";
import { env, readWorkerSettings, type WorkerSettings } from "./lib/config.ts";
import { runCli, UsageError } from "./lib/network/cli.ts";
import { checkChain, waitForCoordinator } from "./lib/network/preflight.ts";
import { httpCoordinator } from "./lib/worker/client.ts";
import { withdrawAll } from "./lib/worker/rewards.ts";
import { CancelRefusedError, settleAsOperator } from "./lib/job/job_cancel.ts";
import { createWorkerView } from "./lib/worker/view.ts";
import { kernelThreads, Worker } from "./lib/worker/worker.ts";
import { sizedTrainer } from "./lib/worker/train.ts";
import { LAPTOP_CAPS } from "./lib/worker/register.ts";
import { loadThreadedKernel } from "./kernel/threads.ts";
import {
  describeSandbox,
  exitWithParent,
  mayRelaunch,
  runSandboxed,
  workerPermissions,
} from "./lib/worker/sandbox.ts";

/** Coordinator calls retried at once before a tick gives up and the loop backs off. */
const RETRIES = 2;

/** The share of the machine's memory a training step may take unless --max-memory says. */
const MEMORY_SHARE = 0.75;

/** The chain's client as the operator, after checking chain id and contracts. */
async function operatorClient(s: WorkerSettings, say: (line: string) => void) {
  const { addresses, name } = s.deployment;
  await checkChain(s, {
    deployment: { addresses: addresses!, name },
    onRetry: (why, ms) => say(`${why}; retrying in ${ms / 1000} s`),
  });
  const account = privateKeyToAccount(s.privateKey);
  const { rpcUrl, chainId, maxFeePerGas } = s;
  return createArthaClient({ rpcUrl, chainId, account, maxFeePerGas });
}

/** `deno task worker withdraw`: pulls everything credited to the operator. */
async function withdraw(s: WorkerSettings): Promise<void> {
  const client = await operatorClient(s, console.error);
  const { amount, hash } = await withdrawAll(client, { addresses: s.deployment.addresses! });
  const who = client.account.address;
  if (amount === 0n) {
    console.log(`nothing to withdraw for ${who} (rewards are credited when a job is finalized)`);
  } else console.log(`withdrew ${formatEther(amount)} ARTH to ${who} (transaction ${hash})`);
}

/**
 * `deno task worker settle <jobId>`: for a job this node worked on whose coordinator stopped
 * closing rounds (and whose owner may be gone too), abandons it once it stalled, settles it once
 * the chain allows, and withdraws; run again, it takes the next step.
 */
async function settle(s: WorkerSettings): Promise<void> {
  let key;
  try {
    key = await loadNodeKey(s.key);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `there is no node key at ${s.key}: settle with the key of the node that worked on the ` +
          "job (--dir or --key)",
      );
    }
    if (e instanceof KeyFileError) throw new UsageError(e.message);
    throw e;
  }
  const client = await operatorClient(s, console.error);
  try {
    const done = await settleAsOperator(client, {
      addresses: s.deployment.addresses!,
      jobId: s.jobId!,
      node: key.publicKeyHex,
      log: console.log,
    });
    if (done.withdrawn === 0n && done.settlesAt === undefined) {
      console.log(`nothing to withdraw for ${client.account.address} from job ${s.jobId}`);
    }
  } catch (e) {
    if (e instanceof CancelRefusedError) throw new UsageError(e.message);
    throw e;
  }
}

/** `deno task worker`: checks, registers, then works until SIGTERM or SIGINT. */
async function work(s: WorkerSettings): Promise<void> {
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  Deno.addSignalListener("SIGINT", () => stop.abort());
  const view = createWorkerView({
    write: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
    terminal: Deno.stdout.isTerminal(),
  });
  const client = await operatorClient(s, (line) => console.error(line));
  const addresses = s.deployment.addresses!;
  let key;
  try {
    key = await loadOrCreateNodeKey(s.key);
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(e.message);
    throw e;
  }
  // The node's declared cores train one step together, byte-identical to one thread; a model
  // whose state does not fit the 32-bit WASM memory trains with the offload step.
  const kernel = await loadThreadedKernel({ threads: kernelThreads(LAPTOP_CAPS.computeUnits) });
  const worker = new Worker({
    trainer: sizedTrainer(kernel),
    coordinator: httpCoordinator(s.coordinator),
    client,
    addresses,
    chainId: s.chainId,
    key,
    statePath: s.state,
    heartbeatEveryMs: s.heartbeatMs,
    maxStake: s.maxStake,
    memoryBudget: s.maxMemory ?? Math.floor(Deno.systemMemoryInfo().total * MEMORY_SHARE),
    kernelThreads: kernel.threads,
    retries: RETRIES,
    onProgress: s.quiet ? undefined : view,
  });
  // A staked node heartbeats while the coordinator is away (Worker.start).
  const ready = () =>
    waitForCoordinator(s.coordinator, {
      chainId: s.chainId,
      chainIdName: s.names.chainId,
      deployment: { addresses, name: s.deployment.name },
    }, {
      signal: stop.signal,
      onRetry: (message, inMs) => view({ kind: "retrying", message, inMs }),
    });
  try {
    await worker.start(ready, stop.signal, s.pollMs);
    await worker.run(stop.signal, s.pollMs);
  } finally {
    kernel.close();
  }
}

/** Parses and checks the settings, relaunches sandboxed, then withdraws, settles or works. */
async function main(args: string[]): Promise<void> {
  if (mayRelaunch()) {
    // Started with broad rights: check the settings, then go on as a child holding only what
    // the worker needs (the child reads the addresses file, which this process may not).
    const s = readWorkerSettings(args, { readFiles: false });
    const resources = {
      coordinator: s.coordinator,
      rpc: s.rpcUrl,
      key: s.key,
      state: s.state,
      addresses: s.deployment.file,
      home: env.home(),
    };
    workerPermissions(resources);
    Deno.exit(await runSandboxed(new URL(import.meta.url), args, resources));
  }
  exitWithParent(env.sandboxed());
  const s = readWorkerSettings(args);
  if (!s.quiet && s.command === "run") {
    console.log(describeSandbox(Deno.pid));
  }
  if (s.command === "withdraw") return await withdraw(s);
  if (s.command === "settle") return await settle(s);
  await work(s);
}

if (import.meta.main) {
  await runCli("run the worker", () => main(Deno.args));
  // The sandboxed child watches its stdin to die with its launcher: leave explicitly when done.
  Deno.exit(0);
}
