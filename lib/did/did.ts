/**
 * `did:artha:<hash>` identifiers.
 *
 * A DID is `did:artha:` followed by the 64 lowercase hex digits of its `didHash`, the
 * `bytes32` key of the on-chain registry. A new DID's hash is `keccak256` of its first
 * Ed25519 authentication key; rotating keys later does not change it.
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes, keccak256 } from "../crypto/digest.ts";

/** Method prefix. */
export const DID_PREFIX = "did:artha:";

/** Thrown for a string that is not a `did:artha:` identifier. */
export class InvalidDidError extends Error {
  /** Stable error code. */
  readonly code = "DID_INVALID";
  /** @param input rejected text */
  constructor(input: string) {
    super(`Cannot parse DID "${String(input).slice(0, 90)}": expected did:artha:<64 hex digits>`);
    this.name = "InvalidDidError";
  }
}

/**
 * The DID hash of a new identity: `keccak256(authPublicKey)`.
 *
 * @example
 * ```ts
 * import { didHashFromAuthKey, formatDid } from "./did.ts";
 * const did = formatDid(didHashFromAuthKey(new Uint8Array(32)));
 * console.assert(did.startsWith("did:artha:"));
 * ```
 */
export function didHashFromAuthKey(authPublicKey: Uint8Array | Hex): Hex {
  const key = typeof authPublicKey === "string" ? hexToBytes(authPublicKey) : authPublicKey;
  if (key.length !== 32) throw new TypeError("Cannot derive DID: auth key must be 32 bytes");
  return bytesToHex(keccak256(key));
}

/**
 * Formats a DID hash as `did:artha:<hex>`.
 *
 * @example
 * ```ts
 * import { formatDid, parseDid } from "./did.ts";
 * const hash = `0x${"ab".repeat(32)}` as const;
 * console.assert(parseDid(formatDid(hash)) === hash);
 * ```
 */
export function formatDid(didHash: Hex): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(didHash)) {
    throw new TypeError("Cannot format DID: didHash must be 32 bytes of hex");
  }
  return DID_PREFIX + didHash.slice(2).toLowerCase();
}

/**
 * Parses `did:artha:<hex>` (a `#fragment` is ignored) to its 0x-prefixed DID hash.
 *
 * @throws {InvalidDidError} for anything else
 * @example
 * ```ts
 * import { parseDid } from "./did.ts";
 * console.assert(parseDid(`did:artha:${"00".repeat(31)}01#auth-1`).endsWith("01"));
 * ```
 */
export function parseDid(did: string): Hex {
  const match = typeof did === "string" &&
    /^did:artha:([0-9a-fA-F]{64})(#[A-Za-z0-9._-]*)?$/.exec(did);
  if (!match) throw new InvalidDidError(did);
  return `0x${match[1]!.toLowerCase()}`;
}
