/**
 * A worker's registration: stake and register its node key on chain when it is new, then bind
 * the key to the operator account with the coordinator (POST /register). Both steps are safe to
 * repeat: a registered key is not registered again, and re-binding is a 200.
 *
 * @example
 * ```ts ignore
 * import { registerWorker } from "./register.ts";
 * const { stake } = await registerWorker(client, coordinator, { addresses, chainId, key });
 * ```
 */
import { formatEther, type Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, NodeRole } from "../chain/contracts.ts";
import { getNodeCert } from "../chain/get_node_cert.ts";
import { getOperatorNodes } from "../chain/get_operator_nodes.ts";
import { registerNode } from "../chain/register_node.ts";
import { getRequiredStake } from "../chain/get_required_stake.ts";
import { checkFunds, PreflightError } from "../network/preflight.ts";
import { type Caps, encodeCaps } from "../chain/caps.ts";
import { type NodeKey, signBinding } from "../crypto/keys.ts";
import type { CoordinatorClient } from "./client.ts";

/** What a laptop offers when it does not say: no GPU, no TEE, 100 GB, 100 Mbit/s. */
export const LAPTOP_CAPS: Caps = {
  hasGPU: false,
  hasTEE: false,
  diskGB: 100,
  bandwidthMbps: 100,
  computeUnits: 2,
};

/**
 * The most stake a worker locks unless told otherwise: the registry's default tier for a
 * GPUProvider (the worker's role), 10 ARTH. The amount is the chain's to ask, so without a limit
 * an owner that raised a tier, or an RPC endpoint that lies, would have the worker lock nearly
 * its whole balance for the unbonding delay, exposed to every percentage slash.
 */
export const DEFAULT_MAX_STAKE = 10n * 10n ** 18n;

const NO_OPERATOR = "0x0000000000000000000000000000000000000000";
const NO_SLA: Hex = `0x${"00".repeat(32)}`;

/** Who registers and how. */
export interface RegisterWorkerParameters {
  addresses: ArthaAddresses;
  chainId: number;
  key: NodeKey;
  /** NodeRole value (default GPUProvider). */
  role?: number;
  caps?: Caps;
  region?: string;
  /** The most stake to lock, in wei (default {@link DEFAULT_MAX_STAKE}). */
  maxStake?: bigint;
}

/** The node's stake, and whether this call registered it (false: it already was). */
export interface RegisterWorkerResult {
  stake: bigint;
  registered: boolean;
}

/**
 * Registers the node key on chain if needed (after checking the operator can pay the stake),
 * then binds it with the coordinator.
 *
 * @throws {PreflightError} INSUFFICIENT_FUNDS, or STAKE_ABOVE_LIMIT when the chain asks more
 *   than `maxStake`, before anything is sent
 */
export async function registerWorker(
  client: ArthaClient,
  coordinator: CoordinatorClient,
  params: RegisterWorkerParameters,
): Promise<RegisterWorkerResult> {
  const { addresses, chainId, key } = params;
  const operator = client.account.address;
  const { cert, nodes } = await onChain(client, addresses, key, operator);
  let stake = cert.stake;
  let nonce = nodes.findIndex((n) => n.toLowerCase() === key.publicKeyHex.toLowerCase());
  const bind = () =>
    signBinding(key, { chainId, registry: addresses.registry, operator, nonce: BigInt(nonce) });
  const registered = cert.operator === NO_OPERATOR;
  if (registered) {
    // The key signs its binding to this operator; the registry checks it on chain, so nobody
    // else can register (and so block) this key.
    nonce = nodes.length;
    const role = params.role ?? NodeRole.GPUProvider;
    const required = await getRequiredStake(client, { addresses, role });
    const limit = params.maxStake ?? DEFAULT_MAX_STAKE;
    if (required > limit) {
      throw new PreflightError(
        "STAKE_ABOVE_LIMIT",
        `Cannot stake: the registry asks ${formatEther(required)} ARTH for this role, more than ` +
          `the ${formatEther(limit)} ARTH this worker may lock; raise --max-stake ` +
          "(ARTHA_MAX_STAKE) if you mean to stake that much",
      );
    }
    await checkFunds(client, { address: operator, need: required, action: "stake" });
    stake = (await registerNode(client, {
      addresses,
      nodePubkey: key.publicKeyHex,
      role,
      stake: required,
      region: params.region ?? "unknown",
      caps: encodeCaps(params.caps ?? LAPTOP_CAPS),
      slaId: NO_SLA,
      bindingSignature: bind(),
    })).stake;
  } else if (cert.operator.toLowerCase() !== operator.toLowerCase()) {
    throw new Error(`Cannot register: node key belongs to operator ${cert.operator}`);
  }
  await coordinator.postJson("/register", {
    nodePubkey: key.publicKeyHex,
    operator,
    nonce,
    signature: bind(),
  });
  return { stake, registered };
}

/** The key's certificate and the operator's registered node keys, as the registry has them. */
async function onChain(
  client: ArthaClient,
  addresses: ArthaAddresses,
  key: NodeKey,
  operator: Hex,
) {
  const cert = await getNodeCert(client, { addresses, nodePubkey: key.publicKeyHex });
  const nodes = await getOperatorNodes(client, { addresses, operator });
  return { cert, nodes };
}
