/**
 * The join form of `GET /join`: the tab's node key (IndexedDB, created on the first visit,
 * exportable as a `worker.ts --key` file, and a key file importable in its place; the browser is
 * asked to keep the storage), the operator account (a pasted private key, a devnet's;
 * else the browser's injected wallet, lib/browser/injected_wallet.ts), then the laptop worker's
 * own loop ({@link BrowserWorker}: register and bind as lib/worker/register.ts does, fetch tasks,
 * train, validate or aggregate in the Web Worker, commit on chain, post the signed envelope) with
 * a live view of what it does, and a button that withdraws the operator's rewards. The chain is
 * the one `GET /info` names.
 *
 * For tests the page exposes its progress as `body[data-join]` (`registered`, `running`, `error`),
 * `body[data-join-rounds]` (rounds submitted), `body[data-wallet]` (`1`: a wallet was found) and
 * `body[data-withdrawn]` (wei withdrawn by the last click).
 *
 * @module
 */
import type { Hex } from "viem";
import { formatEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  type ArthaClient,
  createArthaClient,
  DEFAULT_MAX_GAS_PRICE_GWEI,
} from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { getNodeCert } from "../chain/get_node_cert.ts";
import { getOperatorNodes } from "../chain/get_operator_nodes.ts";
import type { NodeKey } from "../crypto/keys.ts";
import { httpCoordinator } from "../worker/client.ts";
import type { WorkerEvent } from "../worker/events.ts";
import { withdrawAll } from "../worker/rewards.ts";
import { describeEvent } from "../worker/view.ts";
import { BrowserWorker } from "./browser_worker.ts";
import { connectInjectedWallet, injectedWallet } from "./injected_wallet.ts";
import { openKernelWorker } from "./open_kernel_worker.ts";
import {
  announceNodeKeyChange,
  assertStoredNodeKey,
  loadOrCreateBrowserNodeKey,
} from "./node_key_store.ts";
import { type IndexedDbStateStorage, openIndexedDbStateStorage } from "./state_storage.ts";
import type { JoinDocument, Lookup } from "./join_document.ts";
import { keepStorage, type PageKey, wireImport, wireKey } from "./join_key.ts";
import { oneTab } from "./tab_lock.ts";

/** GET /info: the coordinator's chain (no RPC URL when it gives browsers none). */
interface Info {
  chainId: number;
  addresses: ArthaAddresses;
  rpcUrl?: string;
}

/** The live counters of the view. */
interface Live {
  steps: number;
  loss?: number;
  tokensPerSecond?: number;
  bytesSent: number;
  rounds: number;
  closed: number;
  reward: bigint;
}

/** Wires the join form of `document`; returns once the node key is shown. */
export async function setUpJoin(document: JoinDocument): Promise<void> {
  const $: Lookup = (id) => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`Cannot run the join page: no #${id}`);
    return el;
  };
  // Found in the browser audit: over plain http from another machine, anyone on the network
  // (a cafe's Wi-Fi, a router) could rewrite this page and read the node key, the pasted operator
  // key, or send transactions through the wallet that trusts this origin; the CLI worker refuses
  // plain http to another host for the same reason. Browsers also withhold WebCrypto there, which
  // every CID check needs. localhost counts as secure, as the CLI's loopback does.
  if (!(globalThis as { isSecureContext?: boolean }).isSecureContext) {
    document.body.dataset.join = "error";
    $("join-run").disabled = true;
    $("join-status").textContent = `Cannot join from ${location.origin}: a page served over ` +
      "plain http from another machine can be rewritten by anyone on the network, who would " +
      "take the node's key and the operator's money. Open the coordinator's https:// address, " +
      "or http://localhost on its own machine.";
    return;
  }
  const storage = await openIndexedDbStateStorage();
  const { key, created } = await loadOrCreateBrowserNodeKey(storage);
  const page: PageKey = { key, newNodeConfirmed: false };
  $("node-key").textContent = `${key.publicKeyHex}${created ? " (created now)" : ""}`;
  // Another tab opened at the same moment may have made its own key and saved it over this one.
  if (created) announceNodeKeyChange();
  wireKey(document, $, storage, page);
  // Not awaited: a browser may ask its user first (Firefox does), and Join must not wait on that.
  keepStorage(document, $).catch(() => {});
  wireImport(document, $, storage, page);
  if (injectedWallet()) {
    document.body.dataset.wallet = "1";
    $("operator-wallet").textContent =
      "A browser wallet was found: Join uses its account unless a key is pasted.";
  }
  $("join-run").addEventListener("click", () => {
    $("join-run").disabled = true;
    $("node-import").disabled = true;
    const pasted = ($("operator-key").value ?? "").trim();
    $("operator-key").value = "";
    const o = { key: page.key, storage, privateKey: pasted, confirmed: page.newNodeConfirmed };
    oneTab(() => join(document, $, o)).catch((e) => {
      if ((e as { code?: string }).code === "OTHER_NODES") page.newNodeConfirmed = true;
      document.body.dataset.join = "error";
      $("join-status").textContent = `failed: ${joinFailure(e as Error)}`;
      $("join-run").disabled = false;
      $("node-import").disabled = false;
    });
  });
}

/**
 * The operator's staked nodes other than `key`, when `key` is not registered yet: joining would
 * stake a new node beside them. Empty when `key` is registered (joining resumes it) or the
 * operator has no other staked node.
 *
 * @example
 * ```ts ignore
 * import { otherStakedNodes } from "./join_worker.ts";
 * const others = await otherStakedNodes(client, { addresses, key });
 * if (others.length) console.log(`this operator already stakes ${others.join(", ")}`);
 * ```
 */
export async function otherStakedNodes(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; key: NodeKey },
): Promise<Hex[]> {
  const { addresses, key } = params;
  const cert = await getNodeCert(client, { addresses, nodePubkey: key.publicKeyHex });
  if (BigInt(cert.operator) !== 0n) return [];
  const nodes = await getOperatorNodes(client, { addresses, operator: client.account.address });
  const certs = await Promise.all(
    nodes.map((nodePubkey) => getNodeCert(client, { addresses, nodePubkey })),
  );
  return nodes.filter((_, i) => certs[i]!.stake > 0n);
}

/**
 * A failed join as this page words it. The worker's preflight speaks to the CLI: found in the
 * browser audit, a tab with an unfunded account was told to use another ARTHA_PRIVATE_KEY, and one
 * on a deployment asking more stake than a tab may lock to raise --max-stake, neither of which a
 * tab has.
 *
 * @example
 * ```ts
 * import { joinFailure } from "./join_worker.ts";
 * const e = Object.assign(new Error("Cannot stake: ... less than the 10 ARTH needed plus gas; " +
 *   "fund it or use another ARTHA_PRIVATE_KEY (`deno task chain` prints funded development keys)"),
 *   { code: "INSUFFICIENT_FUNDS" });
 * console.assert(!joinFailure(e).includes("ARTHA_") && joinFailure(e).includes("send ARTH"));
 * ```
 */
export function joinFailure(e: Error & { code?: string }): string {
  if (e.code === "INSUFFICIENT_FUNDS") {
    return e.message.replace(
      /; fund it or use another [\s\S]*$/,
      "; send ARTH to this account, or choose a funded account in your wallet (or paste its key)",
    );
  }
  if (e.code === "STAKE_ABOVE_LIMIT") {
    return e.message.replace(
      /; raise --max-stake [\s\S]*$/,
      "; a browser tab stakes no more than that: run the laptop worker (`deno run worker.ts " +
        "--max-stake ARTH`) to stake more",
    );
  }
  return e.message;
}

/** Registers the node with the operator account, then runs the Worker's loop in this tab. */
async function join(
  document: JoinDocument,
  $: Lookup,
  o: { key: NodeKey; storage: IndexedDbStateStorage; privateKey: string; confirmed: boolean },
): Promise<void> {
  // Held since the tab opened: another tab may have imported a key over it (the lock covers a
  // running join or import, not an open tab), and staking it here would leave it in no storage.
  await assertStoredNodeKey(o.storage, o.key, { action: "join" });
  const res = await fetch(new URL("/info", location.href));
  if (!res.ok) throw new Error(`Cannot read /info: HTTP ${res.status}`);
  const info = await res.json() as Info;
  if (!info.rpcUrl) {
    throw new Error(
      "Cannot join: this coordinator gives browsers no JSON-RPC URL (its operator sets " +
        "ARTHA_PUBLIC_RPC_URL when its own holds an API key)",
    );
  }
  const client = await operatorClient({ ...info, rpcUrl: info.rpcUrl }, o.privateKey);
  const others = o.confirmed ? [] : await otherStakedNodes(client, { ...info, key: o.key });
  if (others.length > 0) {
    // A browser that lost its storage shows a new key; staking it would leave the old node's
    // stake locked and its duties slashed. Its operator chooses: import the old key, or go on.
    throw Object.assign(
      new Error(
        `Cannot join yet: operator ${client.account.address} already stakes node ` +
          `${others.join(", ")}, and this browser's key ${o.key.publicKeyHex} is new. If one ` +
          "of those was this browser's (its storage was cleared), import its key file; to stake " +
          "a new node beside them, press Join again",
      ),
      { code: "OTHER_NODES" },
    );
  }
  const kernel = await openKernelWorker(new URL("/join/worker.js", location.href));
  const live: Live = { steps: 0, bytesSent: 0, rounds: 0, closed: 0, reward: 0n };
  const worker = new BrowserWorker({
    coordinator: httpCoordinator(location.origin),
    client,
    addresses: info.addresses,
    chainId: info.chainId,
    key: o.key,
    stateStorage: o.storage,
    kernel,
    wasmUrl: new URL("/join/kernel.wasm", location.href).href,
    aggregateWasmUrl: new URL("/join/aggregate.wasm", location.href).href,
    retries: 2,
    onProgress: (e) => show(document, $, e, live),
  });
  $("join-status").textContent = `registering with operator ${client.account.address}...`;
  await worker.register();
  document.body.dataset.join = "running";
  $("join-withdraw").disabled = false;
  $("join-withdraw").addEventListener("click", () => {
    withdraw(document, $, client, info.addresses).catch((e) => {
      $("join-status").textContent = `withdraw failed: ${(e as Error).message}`;
      $("join-withdraw").disabled = false;
    });
  });
  await worker.run(undefined, 500);
}

/** The operator's client: the pasted key's, else the browser wallet's. */
async function operatorClient(
  info: Info & { rpcUrl: string },
  privateKey: string,
): Promise<ArthaClient> {
  const { rpcUrl, chainId } = info;
  const wallet = injectedWallet();
  if (!privateKey && wallet) return await connectInjectedWallet(wallet, { chainId, rpcUrl });
  if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new TypeError(
      wallet
        ? "Cannot join: paste the operator's private key as 0x + 64 hex digits, or leave it " +
          "empty to use the browser wallet"
        : privateKey
        ? "Cannot join: paste the operator's private key as 0x + 64 hex digits"
        : "Cannot join: no browser wallet was found. Install one (an EIP-1193 wallet such as " +
          "MetaMask or Rabby) and reload this page; paste a private key only for a development " +
          "chain's funded account, never a key that holds real money",
    );
  }
  return pastedKeyClient({ rpcUrl, chainId }, privateKey as Hex);
}

/**
 * The client of an operator key pasted into the page, with the CLI worker's fee cap: it signs
 * every heartbeat and commit unprompted, so a lying or compromised RPC filling fees of its choice
 * (found in the browser audit: 2,200,000 gwei a unit of gas, ~180 ARTH a heartbeat) would drain
 * the account.
 */
export function pastedKeyClient(at: { rpcUrl: string; chainId: number }, privateKey: Hex) {
  const account = privateKeyToAccount(privateKey);
  return createArthaClient({
    ...at,
    account,
    maxFeePerGas: DEFAULT_MAX_GAS_PRICE_GWEI * 10n ** 9n,
  });
}

/** Withdraws everything the operator may claim (rewards are pulled, never pushed). */
async function withdraw(
  document: JoinDocument,
  $: Lookup,
  client: ArthaClient,
  addresses: ArthaAddresses,
): Promise<void> {
  $("join-withdraw").disabled = true;
  $("join-status").textContent = "withdrawing the operator's rewards...";
  const { amount } = await withdrawAll(client, { addresses });
  const line = amount > 0n ? `withdrew ${formatEther(amount)} ARTH` : "nothing to withdraw yet";
  $("join-status").textContent = line;
  const log = $("join-log");
  log.textContent = `${line}\n${log.textContent ?? ""}`;
  document.body.dataset.withdrawn = String(amount);
  $("join-withdraw").disabled = false;
}

/** Shows one worker event: the status line, the log and the live figures. */
function show(document: JoinDocument, $: Lookup, e: WorkerEvent, live: Live): void {
  if (e.kind === "step") {
    live.steps++;
    live.loss = e.loss;
    live.tokensPerSecond = e.tokensPerSecond || live.tokensPerSecond;
    $("join-status").textContent = `training round ${e.round + 1}: step ${e.step + 1} / ${e.steps}`;
  } else {
    if (e.kind === "registered") document.body.dataset.join = "registered";
    if (e.kind === "submitted") {
      live.bytesSent += e.bytes;
      live.rounds++;
      document.body.dataset.joinRounds = String(live.rounds);
    }
    if (e.kind === "roundClosed") live.closed++;
    if (e.kind === "finalized") live.reward += e.reward;
    const line = describeEvent(e);
    if (line) {
      $("join-status").textContent = line;
      const log = $("join-log");
      log.textContent = `${line}\n${log.textContent ?? ""}`.slice(0, 20_000);
    }
  }
  $("join-live").textContent = [
    `steps ${live.steps}`,
    `loss ${live.loss?.toFixed(4) ?? "-"}`,
    `${Math.round(live.tokensPerSecond ?? 0)} tokens/s`,
    `${live.bytesSent.toLocaleString("en")} bytes sent`,
    `${live.rounds} rounds submitted, ${live.closed} closed`,
    `rewards ${formatEther(live.reward)} ARTH`,
  ].join(" · ");
}
