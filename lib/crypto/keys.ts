/**
 * Ed25519 node identity: key generation, key files, signatures and the binding of a
 * node key to an operator's EVM account.
 *
 * The node's identity is Ed25519; registration binds it to the operator's EVM account with an
 * Ed25519 signature over the EIP-712 NodeBinding digest ({@link bindingMessage}), checked on
 * chain by NodeCertRegistry.registerNode (so nobody else can register the key) and again by
 * `register`. Public keys travel as 0x-prefixed 32-byte hex, which is
 * the `bytes32` the contracts store.
 *
 * @module
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { type Address, isAddress } from "viem";
import { arthaDomain, typedDigest } from "./domain.ts";
import { bytesToHex, type Hex, hexToBytes } from "./digest.ts";
import { loadKeyFile, loadOrCreateKeyFile, saveKeyFile } from "./_key_file.ts";

export { KeyFileError } from "./_key_file.ts";

// @noble/ed25519 needs a synchronous SHA-512 for its sync API; this is idempotent.
ed.hashes.sha512 = sha512;

const ALGORITHM = "Ed25519";

/** An Ed25519 node key. `secretKey` is the 32-byte RFC 8032 seed. */
export interface NodeKey {
  /** 32-byte seed; keep it secret. */
  readonly secretKey: Uint8Array<ArrayBuffer>;
  /** 32-byte public key. */
  readonly publicKey: Uint8Array<ArrayBuffer>;
  /** The public key as 0x-prefixed hex (bytes32 on chain). */
  readonly publicKeyHex: Hex;
}

/** Parameters of the node-to-operator binding message. */
export interface BindingParameters {
  /** EVM chain id. */
  chainId: bigint | number;
  /** Address of the registry contract that will check the binding. */
  registry: Address;
  /** Operator's EVM account. */
  operator: Address;
  /** Registry nonce of the operator: how many nodes it registered before (prevents replay). */
  nonce: bigint | number;
}

/**
 * Builds a {@link NodeKey} from a 32-byte seed.
 *
 * @example
 * ```ts
 * import { nodeKeyFromSecret } from "./keys.ts";
 * const key = nodeKeyFromSecret(new Uint8Array(32));
 * console.assert(key.publicKey.length === 32);
 * ```
 */
export function nodeKeyFromSecret(secretKey: Uint8Array): NodeKey {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError("Cannot build node key: secret key must be 32 bytes");
  }
  const seed = secretKey.slice();
  const publicKey = ed.getPublicKey(seed).slice();
  return { secretKey: seed, publicKey, publicKeyHex: bytesToHex(publicKey) };
}

/**
 * Generates a fresh random Ed25519 node key.
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "./keys.ts";
 * const key = generateNodeKey();
 * console.assert(key.publicKeyHex.length === 66);
 * ```
 */
export function generateNodeKey(): NodeKey {
  return nodeKeyFromSecret(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * Signs `message` with the node key (pure Ed25519, RFC 8032).
 *
 * @returns the 64-byte signature as 0x-prefixed hex
 * @example
 * ```ts
 * import { generateNodeKey, signBytes, verifyBytes } from "./keys.ts";
 * const key = generateNodeKey();
 * const msg = new TextEncoder().encode("hi");
 * console.assert(verifyBytes(key.publicKeyHex, msg, signBytes(key, msg)));
 * ```
 */
export function signBytes(key: NodeKey, message: Uint8Array): Hex {
  return bytesToHex(ed.sign(message, key.secretKey));
}

/**
 * Verifies an Ed25519 signature. Returns false for a wrong or malformed signature or a
 * public key that is not a curve point; throws TypeError only for hex of the wrong size.
 *
 * @example
 * ```ts
 * import { generateNodeKey, signBytes, verifyBytes } from "./keys.ts";
 * const key = generateNodeKey();
 * const sig = signBytes(key, new Uint8Array([1]));
 * console.assert(!verifyBytes(key.publicKeyHex, new Uint8Array([2]), sig));
 * ```
 */
export function verifyBytes(
  publicKey: Hex | Uint8Array,
  message: Uint8Array,
  signature: Hex | Uint8Array,
): boolean {
  const pub = toBytes(publicKey, 32, "public key");
  const sig = toBytes(signature, 64, "signature");
  try {
    // Strict RFC 8032 (not ZIP-215): the same signatures the on-chain verifier accepts, and no
    // forgeries "by" small-order keys.
    return ed.verify(sig, message, pub, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * The 32-byte digest a node signs to bind its key to an operator account: the EIP-712 digest of
 * `NodeBinding(address operator, bytes32 nodePubkey, uint256 nonce)` in the ArthaTrain domain of
 * the registry (NodeCertRegistry.bindingDigest checks the same signature on chain).
 *
 * @example
 * ```ts
 * import { bindingMessage } from "./keys.ts";
 * const digest = bindingMessage({
 *   chainId: 31337n,
 *   registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
 *   operator: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
 *   nonce: 0n,
 * }, `0x${"11".repeat(32)}`);
 * console.assert(digest.length === 66);
 * ```
 */
export function bindingMessage(params: BindingParameters, nodePubkey: Hex): Hex {
  const { chainId, registry, operator, nonce } = params;
  if (!isAddress(registry, { strict: false }) || !isAddress(operator, { strict: false })) {
    throw new TypeError("Cannot build binding message: registry and operator must be addresses");
  }
  return typedDigest(arthaDomain(chainId, registry), "NodeBinding", NODE_BINDING_FIELDS, {
    operator,
    nodePubkey,
    nonce: BigInt(nonce),
  });
}

/** The fields of NodeBinding (NodeCertRegistry.NODE_BINDING_TYPEHASH). */
const NODE_BINDING_FIELDS = [
  { name: "operator", type: "address" },
  { name: "nodePubkey", type: "bytes32" },
  { name: "nonce", type: "uint256" },
] as const;

/**
 * Signs the binding message ({@link bindingMessage}) with the node key.
 *
 * @returns 64-byte Ed25519 signature over the 32 digest bytes, as hex
 * @example
 * ```ts
 * import { generateNodeKey, signBinding, verifyBinding } from "./keys.ts";
 * const key = generateNodeKey();
 * const params = {
 *   chainId: 1n,
 *   registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const,
 *   operator: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as const,
 *   nonce: 7n,
 * };
 * console.assert(verifyBinding(key.publicKeyHex, signBinding(key, params), params));
 * ```
 */
export function signBinding(key: NodeKey, params: BindingParameters): Hex {
  return signBytes(key, hexToBytes(bindingMessage(params, key.publicKeyHex)));
}

/**
 * Checks a binding signature made by {@link signBinding}.
 *
 * @example
 * ```ts
 * import { generateNodeKey, signBinding, verifyBinding } from "./keys.ts";
 * const key = generateNodeKey();
 * const params = {
 *   chainId: 1n,
 *   registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const,
 *   operator: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as const,
 *   nonce: 7n,
 * };
 * const sig = signBinding(key, params);
 * console.assert(!verifyBinding(key.publicKeyHex, sig, { ...params, nonce: 8n }));
 * ```
 */
export function verifyBinding(
  publicKey: Hex,
  signature: Hex,
  params: BindingParameters,
): boolean {
  return verifyBytes(publicKey, hexToBytes(bindingMessage(params, publicKey)), signature);
}

/**
 * Writes the key to `path` as JSON with mode 0600, crash-safely (temp file, fsync,
 * rename). Overwrites an existing file.
 *
 * @example
 * ```ts
 * import { generateNodeKey, loadNodeKey, saveNodeKey } from "./keys.ts";
 * const dir = await Deno.makeTempDir();
 * const key = generateNodeKey();
 * await saveNodeKey(`${dir}/node.key`, key);
 * console.assert((await loadNodeKey(`${dir}/node.key`)).publicKeyHex === key.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveNodeKey(path: string, key: NodeKey): Promise<void> {
  await saveKeyFile(path, ALGORITHM, key);
}

/**
 * Reads a key file written by {@link saveNodeKey}. Refuses files readable by group or
 * others (like ssh) and files whose public key does not match the secret.
 *
 * @throws {KeyFileError} when the file is malformed or too permissive
 * @throws {Deno.errors.NotFound} when it does not exist
 * @example
 * ```ts
 * import { loadNodeKey, loadOrCreateNodeKey } from "./keys.ts";
 * const dir = await Deno.makeTempDir();
 * const created = await loadOrCreateNodeKey(`${dir}/node.key`);
 * console.assert((await loadNodeKey(`${dir}/node.key`)).publicKeyHex === created.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadNodeKey(path: string): Promise<NodeKey> {
  return loadKeyFile(path, ALGORITHM, nodeKeyFromSecret);
}

/**
 * Loads the node key at `path`, or creates one (mode 0600) if there is none. Safe
 * against crashes (never leaves a partial file) and against two processes racing:
 * the file is published with a hard link, which fails if another process won, in
 * which case the winner's key is loaded.
 *
 * @example
 * ```ts
 * import { loadOrCreateNodeKey } from "./keys.ts";
 * const dir = await Deno.makeTempDir();
 * const a = await loadOrCreateNodeKey(`${dir}/node.key`);
 * const b = await loadOrCreateNodeKey(`${dir}/node.key`);
 * console.assert(a.publicKeyHex === b.publicKeyHex);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadOrCreateNodeKey(path: string): Promise<NodeKey> {
  return loadOrCreateKeyFile(path, ALGORITHM, nodeKeyFromSecret, generateNodeKey);
}

function toBytes(value: Hex | Uint8Array, size: number, what: string): Uint8Array {
  const bytes = typeof value === "string" ? hexToBytes(value) : value;
  if (bytes.length !== size) {
    throw new TypeError(`Cannot verify signature: ${what} must be ${size} bytes`);
  }
  return bytes;
}
