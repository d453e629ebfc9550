/**
 * Shared set-up of the contract tests: one anvil per test file with the eight contracts deployed,
 * isolation per step with evm_snapshot/evm_revert, and small helpers to send transactions,
 * assert custom-error reverts by name and decode events.
 *
 * Accounts: 0 deploys and owns every contract, 1 is the coordinator (authorised on the job
 * manager and on ProofOfCompute), the rest are operators and job owners.
 */
import assert from "node:assert/strict";
import {
  type Abi,
  BaseError,
  type ContractEventName,
  ContractFunctionRevertedError,
  createClient,
  createTestClient,
  getAddress,
  type Hash,
  type Hex,
  http,
  keccak256,
  type Log,
  parseEther,
  parseEventLogs,
  type ParseEventLogsReturnType,
  publicActions,
  stringToHex,
  type TransactionReceipt,
  walletActions,
} from "viem";
import { type Devnet, startDevnet } from "../../lib/chain/devnet.ts";
import { arthaChain, type ArthaClient } from "../../lib/chain/client.ts";
import {
  estimateGas,
  type EstimateGasParameters,
  fillTransaction,
  type FillTransactionParameters,
} from "viem/actions";
import type { HDAccount } from "viem/accounts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { abis, type ArthaAddresses, NodeRole } from "../../lib/chain/contracts.ts";
import { type NodeKey, nodeKeyFromSecret, signBinding } from "../../lib/crypto/keys.ts";
import { hexToBytes } from "../../lib/crypto/digest.ts";
import { didKeyProof } from "../../lib/did/registry.ts";

export { abis, JobStatus, NodeRole, SlashReason } from "../../lib/chain/contracts.ts";

/** Stake tiers of the registry's constructor, in wei. */
export const ROLE_STAKE: Record<number, bigint> = {
  [NodeRole.Basic]: parseEther("1"),
  [NodeRole.GPUProvider]: parseEther("10"),
  [NodeRole.TEE]: parseEther("50"),
  [NodeRole.Priority]: parseEther("100"),
};
export const HOUR = 3600;
export const DAY = 24 * HOUR;
export const ZERO32: Hex = `0x${"0".repeat(64)}`;

/** The capability word of the Caps library. */
export function caps(c: {
  gpu?: boolean;
  tee?: boolean;
  diskGB?: number;
  bandwidthMbps?: number;
  computeUnits?: number;
} = {}): Hex {
  const word = (c.gpu ? 1n : 0n) | (c.tee ? 2n : 0n) | (BigInt(c.diskGB ?? 0) << 8n) |
    (BigInt(c.bandwidthMbps ?? 0) << 40n) | (BigInt(c.computeUnits ?? 0) << 72n);
  return `0x${word.toString(16).padStart(64, "0")}`;
}

/** A deterministic bytes32 from a label (DIDs, digests). */
export function b32(label: string | number): Hex {
  return keccak256(stringToHex(String(label)));
}

const nodeKeys = new Map<string, NodeKey>();

/** A deterministic Ed25519 node key from a label; `registerNode` signs bindings with it. */
export function nodeKeyOf(label: string | number): NodeKey {
  const key = nodeKeyFromSecret(hexToBytes(b32(`node-key:${label}`)));
  nodeKeys.set(key.publicKeyHex.toLowerCase(), key);
  return key;
}

/** The public key (bytes32) of {@link nodeKeyOf}(label): what tests use as a node id. */
export function nodePubkey(label: string | number): Hex {
  return nodeKeyOf(label).publicKeyHex;
}

/** The node key's binding signature for `operator` at its next registration (nonce). */
export async function bindingSignatureOf(
  fx: Fixture,
  operator: Hex,
  pubkey: Hex,
): Promise<Hex> {
  const key = nodeKeys.get(pubkey.toLowerCase());
  if (!key) throw new Error(`no test key for ${pubkey}: make node ids with nodePubkey(label)`);
  const nodes = await fx.owner.readContract({
    ...fx.c.registry,
    functionName: "nodesOf",
    args: [operator],
  });
  return signBinding(key, {
    chainId: fx.net.chainId,
    registry: fx.addrs.registry,
    operator,
    nonce: BigInt(nodes.length),
  });
}

export interface Fixture extends AsyncDisposable {
  net: Devnet;
  /** One client per funded account; `clients[0]` owns the contracts. */
  clients: ArthaClient[];
  owner: ArthaClient;
  coordinator: ArthaClient;
  addrs: ArthaAddresses;
  /** `{ address, abi }` of each contract, to spread into read/write/simulate calls. */
  c: {
    registry: { address: Hex; abi: typeof abis.registry };
    reputation: { address: Hex; abi: typeof abis.reputation };
    jobs: { address: Hex; abi: typeof abis.jobs };
    proofs: { address: Hex; abi: typeof abis.proofs };
    models: { address: Hex; abi: typeof abis.models };
    dids: { address: Hex; abi: typeof abis.dids };
    verification: { address: Hex; abi: typeof abis.verification };
    disputes: { address: Hex; abi: typeof abis.disputes };
  };
  /** Runs `fn` as a test step and rolls the chain back afterwards. */
  step(
    t: Deno.TestContext,
    name: string,
    fn: () => Promise<void>,
    options?: { ignore?: boolean },
  ): Promise<boolean>;
  /** Moves block time forward by `seconds` and mines a block. */
  increaseTime(seconds: number): Promise<void>;
  /** Timestamp of the latest block. */
  now(): Promise<bigint>;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
}

/**
 * createArthaClient's client, except that gas estimates get a 25% margin. anvil estimates
 * against the pending block's timestamp; when a transaction then lands one second later, a
 * storage write that was a no-op in the estimate (e.g. `lastHeartbeat = block.timestamp`)
 * costs more and the transaction runs out of gas. prepareTransactionRequest looks up
 * `fillTransaction` (anvil's eth_fillTransaction) and `estimateGas` on the client it is bound
 * to, so the overrides go in before walletActions.
 */
const withMargin = (gas: bigint) => gas * 5n / 4n + 10_000n;

function createTestArthaClient(net: Devnet, account: HDAccount): ArthaClient {
  return createClient({
    account,
    chain: arthaChain(net.rpcUrl, net.chainId),
    transport: http(net.rpcUrl, { batch: false }),
    pollingInterval: 50,
  })
    .extend((client) => ({
      estimateGas: async (args: EstimateGasParameters) =>
        withMargin(await estimateGas(client, args)),
      fillTransaction: async (args: FillTransactionParameters) => {
        const filled = await fillTransaction(client, args);
        const gas = filled.transaction.gas;
        return { ...filled, transaction: { ...filled.transaction, gas: gas && withMargin(gas) } };
      },
    }))
    .extend(walletActions)
    .extend(publicActions) as unknown as ArthaClient;
}

/**
 * Starts anvil, deploys and wires the contracts with account 1 as coordinator. `authorised` names
 * accounts (by index) authorised on the contracts whose sets deployment fixes: a unit test's
 * stand-in for VerificationManager or ProofOfCompute.
 */
export async function setupFixture(
  options: {
    accounts?: number;
    authorised?: Partial<Record<"registry" | "reputation" | "proofs", number[]>>;
  } = {},
): Promise<Fixture> {
  const net = await startDevnet({ accounts: options.accounts ?? 6 });
  try {
    const clients = net.accounts.map((account) => createTestArthaClient(net, account));
    const owner = clients[0]!;
    const coordinator = clients[1] ?? owner;
    const authorised = Object.fromEntries(
      Object.entries(options.authorised ?? {}).map(([c, ix]) => [
        c,
        ix.map((i) => clients[i]!.account.address),
      ]),
    );
    const deployed = await deployArtha(owner, {
      coordinators: [coordinator.account.address],
      authorised,
      settlementDelay: 0,
    });
    // Receipts give lower-case addresses; events decode to checksummed ones.
    const addrs = Object.fromEntries(
      Object.entries(deployed).map(([k, v]) => [k, getAddress(v)]),
    ) as unknown as ArthaAddresses;
    const test = createTestClient({ mode: "anvil", transport: http(net.rpcUrl) });
    const rpc = (method: string, params: unknown[] = []) =>
      owner.request({ method, params } as never) as Promise<unknown>;
    const fx: Fixture = {
      net,
      clients,
      owner,
      coordinator,
      addrs,
      c: {
        registry: { address: addrs.registry, abi: abis.registry },
        reputation: { address: addrs.reputation, abi: abis.reputation },
        jobs: { address: addrs.jobs, abi: abis.jobs },
        proofs: { address: addrs.proofs, abi: abis.proofs },
        models: { address: addrs.models, abi: abis.models },
        dids: { address: addrs.dids, abi: abis.dids },
        verification: { address: addrs.verification, abi: abis.verification },
        disputes: { address: addrs.disputes, abi: abis.disputes },
      },
      step: (t, name, fn, options = {}) =>
        t.step({
          name,
          ignore: options.ignore ?? false,
          fn: async () => {
            const id = await test.snapshot();
            try {
              await fn();
            } finally {
              await test.revert({ id });
            }
          },
        }),
      increaseTime: async (seconds) => {
        await test.increaseTime({ seconds });
        await test.mine({ blocks: 1 });
      },
      now: async () => (await owner.getBlock()).timestamp,
      rpc,
      [Symbol.asyncDispose]: () => net.stop(),
    };
    return fx;
  } catch (e) {
    await net.stop();
    throw e;
  }
}

/** Waits for a sent transaction and asserts it succeeded. */
export async function mined(client: ArthaClient, hash: Promise<Hash>): Promise<TransactionReceipt> {
  const receipt = await client.waitForTransactionReceipt({ hash: await hash });
  if (receipt.status !== "success") {
    const tx = await client.getTransaction({ hash: receipt.transactionHash });
    assert.fail(
      `transaction ${receipt.transactionHash} reverted (gas used ${receipt.gasUsed} of ${tx.gas})`,
    );
  }
  return receipt;
}

/** Asserts that `call` (a simulateContract/writeContract promise) reverts with the custom error
 * `errorName`; returns the error's arguments. */
export async function expectRevert(
  call: Promise<unknown>,
  errorName: string,
): Promise<readonly unknown[]> {
  let error: unknown;
  try {
    await call;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a revert with ${errorName}, but the call succeeded`);
  const reverted = error instanceof BaseError
    ? error.walk((e) => e instanceof ContractFunctionRevertedError)
    : null;
  if (!(reverted instanceof ContractFunctionRevertedError)) {
    throw new Error(`expected a revert with ${errorName}, got another error`, { cause: error });
  }
  assert.equal(reverted.data?.errorName, errorName, reverted.shortMessage);
  return reverted.data?.args ?? [];
}

/** The decoded events `eventName` of `abi` in a receipt. */
export function events<const abi extends Abi, name extends ContractEventName<abi>>(
  receipt: { logs: Log[] },
  abi: abi,
  eventName: name,
): ParseEventLogsReturnType<abi, name, true> {
  return parseEventLogs({ abi, logs: receipt.logs, eventName });
}

/** The single event `eventName` of `abi` in a receipt; fails unless there is exactly one. */
export function event<const abi extends Abi, name extends ContractEventName<abi>>(
  receipt: { logs: Log[] },
  abi: abi,
  eventName: name,
): ParseEventLogsReturnType<abi, name, true>[number]["args"] {
  const found = events(receipt, abi, eventName);
  assert.equal(found.length, 1, `expected one ${eventName} event, found ${found.length}`);
  return found[0]!.args;
}

/** Registers a node from `client` (default stake: the role's tier) and returns the receipt; the
 * node id must come from {@link nodePubkey}, whose key signs the binding. */
export async function registerNode(
  fx: Fixture,
  client: ArthaClient,
  node: { pubkey: Hex; role?: number; stake?: bigint; caps?: Hex; region?: string; slaId?: Hex },
): Promise<TransactionReceipt> {
  const role = node.role ?? NodeRole.GPUProvider;
  const signature = await bindingSignatureOf(fx, client.account.address, node.pubkey);
  return mined(
    client,
    client.writeContract({
      ...fx.c.registry,
      functionName: "registerNode",
      args: [
        node.pubkey,
        role,
        node.region ?? "eu-west",
        node.caps ?? caps({ gpu: true, tee: role === NodeRole.TEE, diskGB: 500 }),
        node.slaId ?? b32("sla-standard"),
        signature,
      ],
      value: node.stake ?? ROLE_STAKE[role]!,
    }),
  );
}

/** Default job parameters; override any field. */
export function trainParams(p: Partial<TrainParams> = {}): TrainParams {
  return {
    modelCid: "bafy-model",
    datasetCid: "bafy-data",
    paramsHash: b32("params"),
    rounds: 2,
    nodesWanted: 3,
    redundancy: 1,
    baseRatePerSecond: 0n,
    targetImprovementBps: 0,
    stepsPerRound: 10,
    samplesPerStep: 32,
    secondsPerStep: 6,
    ...p,
  };
}

export interface TrainParams {
  modelCid: string;
  datasetCid: string;
  paramsHash: Hex;
  rounds: number;
  nodesWanted: number;
  redundancy: number;
  baseRatePerSecond: bigint;
  targetImprovementBps: number;
  stepsPerRound: number;
  samplesPerStep: number;
  secondsPerStep: number;
}

/** Submits a job from `client` and returns its id. */
export async function submitJob(
  fx: Fixture,
  client: ArthaClient,
  budget: bigint,
  p: Partial<TrainParams> = {},
): Promise<Hex> {
  const receipt = await mined(
    client,
    client.writeContract({
      ...fx.c.jobs,
      functionName: "submitTrain",
      args: [trainParams(p)],
      value: budget,
    }),
  );
  return event(receipt, abis.jobs, "JobSubmitted").jobId;
}

/** One node's commitment for one round, with digests derived from labels. */
export function roundCommit(
  jobId: Hex,
  nodePubkey: Hex,
  round: number,
  work: { result?: string } = {},
) {
  const result = work.result ?? `${nodePubkey}-${round}`;
  return {
    jobId,
    round,
    nodePubkey,
    lossDigest: b32(`loss-${result}`),
    gradientDigest: b32(`grad-${result}`),
    weightsDigest: b32(`weights-${result}`),
    proofsRoot: b32(`proofs-${nodePubkey}-${round}`),
  } as const;
}

/** The DID of {@link nodeKeyOf}(authLabel): keccak256 of its auth key. */
export function didOf(authLabel: string): Hex {
  return keccak256(nodeKeyOf(authLabel).publicKeyHex);
}

/** createDID arguments for `client`, with the auth key of `authLabel` proving itself. */
export function createDidArgs(
  fx: Fixture,
  client: ArthaClient,
  authLabel: string,
  encKey: Hex,
  metaCid: string,
): readonly [Hex, Hex, Hex, string, Hex] {
  const key = nodeKeyOf(authLabel);
  const didHash = didOf(authLabel);
  const proof = didKeyProof(key, {
    chainId: fx.net.chainId,
    registry: fx.addrs.dids,
    didHash,
    controller: client.account.address,
    encKey,
    nonce: 0n,
  });
  return [didHash, key.publicKeyHex, encKey, metaCid, proof];
}

/** rotateKeys arguments for `client`: the new auth key of `authLabel` signs at `nonce`. */
export function rotateKeysArgs(
  fx: Fixture,
  client: ArthaClient,
  didHash: Hex,
  authLabel: string,
  encKey: Hex,
  nonce = 1n,
  metaCid = `bafy-${authLabel}`,
): readonly [Hex, Hex, Hex, string, Hex] {
  const key = nodeKeyOf(authLabel);
  const proof = didKeyProof(key, {
    chainId: fx.net.chainId,
    registry: fx.addrs.dids,
    didHash,
    controller: client.account.address,
    encKey,
    nonce,
  });
  return [didHash, key.publicKeyHex, encKey, metaCid, proof];
}
