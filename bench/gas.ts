/**
 * Gas per call of every external state-changing function of the eight contracts, measured on a
 * fresh anvil (cancun) and printed as a table. The per-node-per-round proof commit is the hot
 * path of the protocol (one per worker per round); its target is <= 60k gas.
 *
 *   deno task bench:gas
 */
import { encodeAbiParameters, encodePacked, keccak256, toHex } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../lib/chain/devnet.ts";
import { createArthaClient } from "../lib/chain/client.ts";
import { deployArtha } from "../lib/chain/deploy.ts";
import { abis, NodeRole, SlashReason } from "../lib/chain/contracts.ts";
import { sendContract } from "../lib/chain/send_contract.ts";
import { encodeCaps } from "../lib/chain/caps.ts";
import { type NodeKey, nodeKeyFromSecret, signBinding } from "../lib/crypto/keys.ts";
import { didKeyProof } from "../lib/did/registry.ts";
import { hexToBytes } from "../lib/crypto/digest.ts";
import { aiJobManagerBytecode } from "../lib/abi/AIJobManager.ts";
import { proofOfComputeBytecode } from "../lib/abi/ProofOfCompute.ts";
import { nodeCertRegistryBytecode } from "../lib/abi/NodeCertRegistry.ts";

const COMMIT_TARGET = 60_000n;
const rows: { contract: string; fn: string; gas: bigint; note?: string }[] = [];

await using net = await startDevnet({ accounts: 6 });
const [owner, op1, op2, op3, attester, dataOwner] = net.accounts.map((account) =>
  createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
) as [
  ReturnType<typeof createArthaClient>,
  ReturnType<typeof createArthaClient>,
  ReturnType<typeof createArthaClient>,
  ReturnType<typeof createArthaClient>,
  ReturnType<typeof createArthaClient>,
  ReturnType<typeof createArthaClient>,
];
// The owner's account stands in for the contracts that slash, set quality and report reputation
// (deployment fixes those sets: the owner itself holds no such rights).
const a = await deployArtha(owner, {
  settlementDelay: 0,
  authorised: {
    proofs: [owner.account.address],
    registry: [owner.account.address],
    reputation: [owner.account.address],
  },
});
const test = { request: owner.request };
const ARTH = 10n ** 18n;

function h(label: string): Hex {
  return keccak256(toHex(label));
}

/** AIJobManager's id of the owner's `nonce`-th job: keccak256(jobs, chainid, owner, nonce). */
function jobIdOf(nonce: bigint): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
      [a.jobs, BigInt(net.chainId), owner.account.address, nonce],
    ),
  );
}

/** A deterministic node key per label (its public key is the node id). */
function keyOf(label: string): NodeKey {
  return nodeKeyFromSecret(hexToBytes(h(`bench-node:${label}`)));
}

/** The node key's binding to `client`'s account at its next registration. */
async function bindingOf(client: typeof owner, key: NodeKey): Promise<Hex> {
  const registered = await client.readContract({
    address: a.registry,
    abi: abis.registry,
    functionName: "nodesOf",
    args: [client.account.address],
  });
  return signBinding(key, {
    chainId: net.chainId,
    registry: a.registry,
    operator: client.account.address,
    nonce: BigInt(registered.length),
  });
}

async function measure(
  contract: string,
  fn: string,
  client: typeof owner,
  req: Parameters<typeof sendContract>[1],
  note?: string,
) {
  const { gasUsed } = await sendContract(client, req);
  rows.push({ contract, fn, gas: gasUsed, note });
  return gasUsed;
}

async function increaseTime(seconds: number) {
  await test.request({ method: "evm_increaseTime" as never, params: [seconds] as never });
  await test.request({ method: "evm_mine" as never, params: [] as never });
}

const caps = encodeCaps({
  hasGPU: false,
  hasTEE: false,
  diskGB: 256,
  bandwidthMbps: 100,
  computeUnits: 8,
});
const keys = ["node1", "node2", "node3"].map(keyOf);
const nodes = keys.map((k) => k.publicKeyHex);
const R = abis.registry;
await measure("NodeCertRegistry", "registerNode", op1, {
  address: a.registry,
  abi: R,
  functionName: "registerNode",
  args: [nodes[0], NodeRole.GPUProvider, "eu-west", caps, h("sla"), await bindingOf(op1, keys[0]!)],
  value: 10n * ARTH,
}, "Ed25519 binding checked on chain");
await sendContract(op2, {
  address: a.registry,
  abi: R,
  functionName: "registerNode",
  args: [
    nodes[1]!,
    NodeRole.GPUProvider,
    "us-east",
    caps,
    h("sla"),
    await bindingOf(op2, keys[1]!),
  ],
  value: 10n * ARTH,
});
await sendContract(op3, {
  address: a.registry,
  abi: R,
  functionName: "registerNode",
  args: [
    nodes[2]!,
    NodeRole.GPUProvider,
    "ap-south",
    caps,
    h("sla"),
    await bindingOf(op3, keys[2]!),
  ],
  value: 10n * ARTH,
});
await measure("NodeCertRegistry", "heartbeat", op1, {
  address: a.registry,
  abi: R,
  functionName: "heartbeat",
  args: [nodes[0]],
});
await measure("NodeCertRegistry", "addStake", op1, {
  address: a.registry,
  abi: R,
  functionName: "addStake",
  args: [nodes[0]],
  value: ARTH,
});
await measure("NodeCertRegistry", "setAttester", owner, {
  address: a.registry,
  abi: R,
  functionName: "setAttester",
  args: [attester.account.address, true],
});
const hw = h("hw-report");
const digest = await owner.readContract({
  address: a.registry,
  abi: R,
  functionName: "hardwareDigest",
  args: [nodes[0]!, hw],
});
const attestation = await attester.account.sign!({ hash: digest });
await measure("NodeCertRegistry", "verifyHardware", op1, {
  address: a.registry,
  abi: R,
  functionName: "verifyHardware",
  args: [nodes[0], hw, attestation],
});
await measure("NodeCertRegistry", "setMinStake", owner, {
  address: a.registry,
  abi: R,
  functionName: "setMinStake",
  args: [ARTH],
});
await measure("NodeCertRegistry", "setRoleStake", owner, {
  address: a.registry,
  abi: R,
  functionName: "setRoleStake",
  args: [NodeRole.GPUProvider, 10n * ARTH],
});
await measure("NodeCertRegistry", "setHeartbeatInterval", owner, {
  address: a.registry,
  abi: R,
  functionName: "setHeartbeatInterval",
  args: [3600n],
});
// Links are set once (deployArtha did): measured on fresh, unlinked copies.
const fresh = async (
  abi: typeof abis.jobs | typeof abis.proofs | typeof abis.registry,
  bytecode: Hex,
) =>
  (await owner.waitForTransactionReceipt({
    hash: await owner.deployContract(
      { abi, bytecode } as Parameters<typeof owner.deployContract>[0],
    ),
  })).contractAddress!;
await measure("AIJobManager", "setLinks", owner, {
  address: await fresh(abis.jobs, aiJobManagerBytecode),
  abi: abis.jobs,
  functionName: "setLinks",
  args: [a.registry, a.proofs],
});
await measure("NodeCertRegistry", "setReputation", owner, {
  address: await fresh(abis.registry, nodeCertRegistryBytecode),
  abi: R,
  functionName: "setReputation",
  args: [a.reputation],
});
await measure("ProofOfCompute", "setLinks", owner, {
  address: await fresh(abis.proofs, proofOfComputeBytecode),
  abi: abis.proofs,
  functionName: "setLinks",
  args: [a.jobs, a.registry, a.reputation],
});
await measure("NodeCertRegistry", "setUnbondingDelay", owner, {
  address: a.registry,
  abi: R,
  functionName: "setUnbondingDelay",
  args: [7n * 86400n],
});

// Job life cycle.
const J = abis.jobs, P = abis.proofs;
const terms = {
  modelCid: "bafkreimodel",
  datasetCid: "bafkreidata",
  paramsHash: h("params"),
  rounds: 2,
  nodesWanted: 3,
  redundancy: 1,
  baseRatePerSecond: 10n ** 15n,
  targetImprovementBps: 100,
  stepsPerRound: 50,
  samplesPerStep: 8,
  secondsPerStep: 2,
};
await measure("AIJobManager", "submitTrain", owner, {
  address: a.jobs,
  abi: J,
  functionName: "submitTrain",
  args: [terms],
  value: 30n * ARTH,
});
const jobId = jobIdOf(0n);
await measure("AIJobManager", "assign", owner, {
  address: a.jobs,
  abi: J,
  functionName: "assign",
  args: [jobId, nodes.slice(0, 2)],
}, "2 nodes");
const commit = (node: Hex, round: number, salt: string) => ({
  jobId,
  round,
  nodePubkey: node,
  lossDigest: h(`loss${salt}`),
  gradientDigest: h(`grad${salt}`),
  weightsDigest: h(`w${salt}`),
  proofsRoot: h(`p${salt}`),
});
const first = await measure("ProofOfCompute", "commitRound", op1, {
  address: a.proofs,
  abi: P,
  functionName: "commitRound",
  args: [commit(nodes[0]!, 0, "a")],
}, "round 0");
await sendContract(op2, {
  address: a.proofs,
  abi: P,
  functionName: "commitRound",
  args: [commit(nodes[1]!, 0, "a")],
});
await measure("AIJobManager", "closeRound", owner, {
  address: a.jobs,
  abi: J,
  functionName: "closeRound",
  args: [jobId, 0, "bafkreickpt0", h("w0")],
});
const second = await measure("ProofOfCompute", "commitRound", op1, {
  address: a.proofs,
  abi: P,
  functionName: "commitRound",
  args: [commit(nodes[0]!, 1, "b")],
}, "round 1");
await increaseTime(2 * 3600);
await sendContract(op3, {
  address: a.registry,
  abi: R,
  functionName: "heartbeat",
  args: [nodes[2]!],
});
await measure("AIJobManager", "reassign", owner, {
  address: a.jobs,
  abi: J,
  functionName: "reassign",
  args: [jobId, nodes[1], nodes[2]],
}, "after missed heartbeat");
await sendContract(op3, {
  address: a.proofs,
  abi: P,
  functionName: "commitRound",
  args: [commit(nodes[2]!, 1, "b")],
});
await measure("ProofOfCompute", "setQuality", owner, {
  address: a.proofs,
  abi: P,
  functionName: "setQuality",
  args: [jobId, nodes[0], 12_000n],
});
await measure("AIJobManager", "reportAccuracy", owner, {
  address: a.jobs,
  abi: J,
  functionName: "reportAccuracy",
  args: [jobId, 500],
});
await measure("AIJobManager", "closeRound", owner, {
  address: a.jobs,
  abi: J,
  functionName: "closeRound",
  args: [jobId, 1, "bafkreickpt1", h("w1")],
}, "last round");
await measure("ProofOfCompute", "finalize", owner, {
  address: a.proofs,
  abi: P,
  functionName: "finalize",
  args: [jobId],
}, "3 nodes");
await measure("AIJobManager", "withdraw", op1, {
  address: a.jobs,
  abi: J,
  functionName: "withdraw",
  args: [],
});
await sendContract(owner, {
  address: a.jobs,
  abi: J,
  functionName: "submitTrain",
  args: [terms],
  value: ARTH,
});
const jobId2 = jobIdOf(1n);
await measure("AIJobManager", "cancelJob", owner, {
  address: a.jobs,
  abi: J,
  functionName: "cancelJob",
  args: [jobId2],
});
await sendContract(owner, {
  address: a.jobs,
  abi: J,
  functionName: "submitTrain",
  args: [terms],
  value: ARTH,
});
const jobId3 = jobIdOf(2n);
await sendContract(op1, {
  address: a.registry,
  abi: R,
  functionName: "heartbeat",
  args: [nodes[0]!],
});
await sendContract(owner, {
  address: a.jobs,
  abi: J,
  functionName: "assign",
  args: [jobId3, [nodes[0]!]],
});
await measure("ProofOfCompute", "penalise", owner, {
  address: a.proofs,
  abi: P,
  functionName: "penalise",
  args: [jobId3, nodes[0], 1_000n, SlashReason.FailedVerification, false],
}, "10% slash");

// Slashing and exit.
await measure("NodeCertRegistry", "slashNode", owner, {
  address: a.registry,
  abi: R,
  functionName: "slashNode",
  args: [nodes[1], ARTH, SlashReason.FailedJob, false],
});
await measure("NodeCertRegistry", "slashBps", owner, {
  address: a.registry,
  abi: R,
  functionName: "slashBps",
  args: [nodes[1], 500n, SlashReason.FailedJob, false],
});
await increaseTime(3 * 3600 + 1);
await measure("NodeCertRegistry", "reportMissedHeartbeats", owner, {
  address: a.registry,
  abi: R,
  functionName: "reportMissedHeartbeats",
  args: [nodes[1]],
}, "3 misses: 10% slash");
await measure("NodeCertRegistry", "deactivateNode", op2, {
  address: a.registry,
  abi: R,
  functionName: "deactivateNode",
  args: [nodes[1]],
});
await increaseTime(7 * 86400 + 1);
// Job 3's coordinator has been silent past its stall window (a day and one round's compute).
await measure("AIJobManager", "abandonJob", owner, {
  address: a.jobs,
  abi: J,
  functionName: "abandonJob",
  args: [jobId3],
}, "stalled: cut to 1 round, the rest credited");
await measure("NodeCertRegistry", "withdrawStake", op2, {
  address: a.registry,
  abi: R,
  functionName: "withdrawStake",
  args: [nodes[1]],
});

// Reputation.
const Rep = abis.reputation;
await measure("ReputationRegistry", "recordDeal", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordDeal",
  args: [nodes[0], true],
});
await measure("ReputationRegistry", "recordProof", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordProof",
  args: [nodes[0], true],
});
await measure("ReputationRegistry", "recordJob", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordJob",
  args: [nodes[0], true],
});
await measure("ReputationRegistry", "recordSlash", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordSlash",
  args: [nodes[0]],
});
await measure("ReputationRegistry", "recordViolation", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordViolation",
  args: [nodes[0]],
});
await measure("ReputationRegistry", "setBandwidthScore", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "setBandwidthScore",
  args: [nodes[0], 8_000n],
});
await measure("ReputationRegistry", "recordLineage", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordLineage",
  args: [nodes[0], 2],
});
await measure("ReputationRegistry", "recordEpoch", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "recordEpoch",
  args: [nodes[0]],
});
await measure("AIJobManager", "setAuthorised", owner, {
  address: a.jobs,
  abi: abis.jobs,
  functionName: "setAuthorised",
  args: [attester.account.address, true],
});
await measure("ReputationRegistry", "transferOwnership", owner, {
  address: a.reputation,
  abi: Rep,
  functionName: "transferOwnership",
  args: [owner.account.address],
});

// Models.
const M = abis.models;
await measure("ModelRegistry", "registerModel", owner, {
  address: a.models,
  abi: M,
  functionName: "registerModel",
  args: ["artha-gpt-mini", jobId],
});
const modelId = keccak256(
  encodeAbiParameters([{ type: "address" }, { type: "string" }], [
    owner.account.address,
    "artha-gpt-mini",
  ]),
);
await measure("ModelRegistry", "setPublisher", owner, {
  address: a.models,
  abi: M,
  functionName: "setPublisher",
  args: [modelId, op1.account.address, true],
});
await measure("ModelRegistry", "addCheckpoint", op1, {
  address: a.models,
  abi: M,
  functionName: "addCheckpoint",
  args: [modelId, 1n, "bafkreickpt1", h("w1")],
});
await measure("ModelRegistry", "publishModel", owner, {
  address: a.models,
  abi: M,
  functionName: "publishModel",
  args: [modelId, "bafybeimodelfolder", h("w1")],
});

// DIDs and data access.
const D = abis.dids;
/** createDID/rotateKeys arguments: the auth key `label` proves itself for `client`. */
const didArgs = (client: typeof owner, label: string, didHash: Hex, enc: Hex, nonce: bigint) => {
  const key = keyOf(label);
  const proof = didKeyProof(key, {
    chainId: net.chainId,
    registry: a.dids,
    didHash,
    controller: client.account.address,
    encKey: enc,
    nonce,
  });
  return { key: key.publicKeyHex, proof };
};
const didOfLabel = (label: string) => keccak256(keyOf(label).publicKeyHex);
const did = didOfLabel("auth"), grantee = didOfLabel("auth2");
const dataset = keccak256(encodePacked(["bytes32", "string"], [did, "bafkreicipher"]));
const created = didArgs(dataOwner, "auth", did, h("enc"), 0n);
await measure("ArthaDIDRegistry", "createDID", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "createDID",
  args: [did, created.key, h("enc"), "bafkreididdoc", created.proof],
}, "Ed25519 key proof checked on chain");
const created2 = didArgs(op1, "auth2", grantee, h("enc2"), 0n);
await sendContract(op1, {
  address: a.dids,
  abi: D,
  functionName: "createDID",
  args: [grantee, created2.key, h("enc2"), "bafkreididdoc2", created2.proof],
});
const rotated = didArgs(dataOwner, "auth3", did, h("enc3"), 1n);
await measure("ArthaDIDRegistry", "rotateKeys", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "rotateKeys",
  args: [did, rotated.key, h("enc3"), "bafkreididdoc3", rotated.proof],
});
await measure("ArthaDIDRegistry", "updateMetadata", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "updateMetadata",
  args: [did, "bafkreididdoc3"],
});
await measure("ArthaDIDRegistry", "registerDataset", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "registerDataset",
  args: [dataset, did, "bafkreicipher"],
});
await measure("ArthaDIDRegistry", "rotateDataset", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "rotateDataset",
  args: [dataset, "bafkreicipher-v2"],
}, "hard revocation");
await measure("ArthaDIDRegistry", "grantDataAccess", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "grantDataAccess",
  args: [dataset, grantee, h("enc2"), "bafkreiwrapped", 0n],
});
await measure("ArthaDIDRegistry", "recordAccess", op1, {
  address: a.dids,
  abi: D,
  functionName: "recordAccess",
  args: [dataset, grantee, h("job")],
});
await measure("ArthaDIDRegistry", "recordConsent", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "recordConsent",
  args: [did, h("purpose"), true],
});
await measure("ArthaDIDRegistry", "revokeDataAccess", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "revokeDataAccess",
  args: [dataset, grantee],
});
await measure("ArthaDIDRegistry", "changeOwner", op1, {
  address: a.dids,
  abi: D,
  functionName: "changeOwner",
  args: [grantee, op1.account.address],
});
await measure("ArthaDIDRegistry", "revokeDID", dataOwner, {
  address: a.dids,
  abi: D,
  functionName: "revokeDID",
  args: [did],
});

// Finalize at scale: one 1-round job per size, every node committing, settled in one call; then
// the same nodes again (returning nodes: their reputation records already exist).
const scaling: { nodes: number; fresh: bigint; returning: bigint }[] = [];
const operators = [op1, op2, op3, attester, dataOwner];
let registered = 0;
const finalizeOf = async (group: Hex[]) => {
  const submitted = await sendContract(owner, {
    address: a.jobs,
    abi: J,
    functionName: "submitTrain",
    args: [{ ...terms, rounds: 1, nodesWanted: group.length }],
    value: ARTH,
  });
  const log = submitted.receipt.logs.find((l) => l.address.toLowerCase() === a.jobs.toLowerCase());
  const job = log!.topics[1]! as Hex;
  await sendContract(owner, {
    address: a.jobs,
    abi: J,
    functionName: "assign",
    args: [job, group],
  });
  for (let i = 0; i < group.length; i++) {
    await sendContract(operatorOfNode.get(group[i]!)!, {
      address: a.proofs,
      abi: P,
      functionName: "commitRound",
      args: [{ ...commit(group[i]!, 0, `s${i}`), jobId: job }],
    });
  }
  await sendContract(owner, {
    address: a.jobs,
    abi: J,
    functionName: "closeRound",
    args: [job, 0, "bafkreiscale", h("scale")],
  });
  return (await sendContract(owner, {
    address: a.proofs,
    abi: P,
    functionName: "finalize",
    args: [job],
  })).gasUsed;
};
const operatorOfNode = new Map<Hex, typeof owner>();
for (const size of [1, 3, 10]) {
  const group: Hex[] = [];
  for (let i = 0; i < size; i++) {
    const key = keyOf(`scale-${registered++}`);
    const op = operators[registered % operators.length]!;
    await sendContract(op, {
      address: a.registry,
      abi: R,
      functionName: "registerNode",
      args: [
        key.publicKeyHex,
        NodeRole.GPUProvider,
        "eu",
        caps,
        h("sla"),
        await bindingOf(op, key),
      ],
      value: 10n * ARTH,
    });
    operatorOfNode.set(key.publicKeyHex, op);
    group.push(key.publicKeyHex);
  }
  scaling.push({ nodes: size, fresh: await finalizeOf(group), returning: await finalizeOf(group) });
}

console.log("\nGas per call (anvil, cancun, solc 0.8.37 via-IR, 200 runs)\n");
console.log(`${"contract".padEnd(20)} ${"function".padEnd(24)} ${"gas".padStart(9)}  note`);
for (const r of rows) {
  console.log(
    `${r.contract.padEnd(20)} ${r.fn.padEnd(24)} ${r.gas.toString().padStart(9)}  ${r.note ?? ""}`,
  );
}
const ratio = Number(second) / Number(COMMIT_TARGET);
console.log(
  `\ncommitRound per node per round: ${first} (first round), ${second} (later rounds); ` +
    `target ${COMMIT_TARGET}: ratio ${ratio.toFixed(2)} ${
      second <= COMMIT_TARGET && first <= COMMIT_TARGET ? "(met)" : "(MISSED)"
    }`,
);
console.log("\nfinalize (one call) by job size: total gas and gas per node");
console.log(
  `${"nodes".padStart(5)} ${"new nodes".padStart(12)} ${"per node".padStart(9)} ${
    "returning".padStart(12)
  } ${"per node".padStart(9)}`,
);
for (const r of scaling) {
  console.log(
    `${String(r.nodes).padStart(5)} ${r.fresh.toString().padStart(12)} ${
      (r.fresh / BigInt(r.nodes)).toString().padStart(9)
    } ${r.returning.toString().padStart(12)} ${
      (r.returning / BigInt(r.nodes)).toString().padStart(9)
    }`,
  );
}
const [one, , ten] = scaling;
console.log(
  `marginal per node (1 -> 10): new ${(ten!.fresh - one!.fresh) / 9n}, returning ${
    (ten!.returning - one!.returning) / 9n
  }`,
);
