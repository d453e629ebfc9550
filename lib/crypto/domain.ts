/**
 * The one EIP-712 domain of every message an ArthaTrain party signs (contracts/libraries/Domain.sol):
 * name "ArthaTrain", version "1", the chain id and the contract that checks the signature, so a
 * signature made for one deployment or chain never verifies for another. Each signed message is
 * an EIP-712 struct; {@link typedDigest} is its 32-byte digest, which Ed25519 keys sign directly.
 *
 * @example
 * ```ts
 * import { arthaDomain, typedDigest } from "./domain.ts";
 * const domain = arthaDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
 * const digest = typedDigest(domain, "Ping", [{ name: "n", type: "uint256" }], { n: 1n });
 * console.assert(digest.length === 66);
 * ```
 */
import { type Address, hashTypedData, type Hex, isAddress, type TypedDataParameter } from "viem";

/** Name and version of the ArthaTrain EIP-712 domain (bump the version with any layout change). */
export const DOMAIN_NAME = "ArthaTrain";
export const DOMAIN_VERSION = "1";

/** Where a signature counts: the chain and the contract that checks it. */
export interface ArthaDomain {
  chainId: number;
  verifyingContract: Address;
}

/** The domain of `verifyingContract` on chain `chainId`. */
export function arthaDomain(chainId: number | bigint, verifyingContract: Address): ArthaDomain {
  if (!isAddress(verifyingContract, { strict: false })) {
    throw new TypeError("Cannot build domain: verifyingContract must be an address");
  }
  const id = Number(chainId);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new RangeError("Cannot build domain: chainId must be a positive integer");
  }
  return { chainId: id, verifyingContract };
}

/** The EIP-712 digest of one struct `message` of type `primaryType` under `domain`. */
export function typedDigest(
  domain: ArthaDomain,
  primaryType: string,
  fields: readonly TypedDataParameter[],
  message: Record<string, unknown>,
): Hex {
  return hashTypedData(
    {
      domain: { name: DOMAIN_NAME, version: DOMAIN_VERSION, ...domain },
      types: { [primaryType]: fields },
      primaryType,
      message,
    } as Parameters<typeof hashTypedData>[0],
  );
}

/**
 * The domain of work whose TrainProofs nobody checks: simulations, benchmarks, and validators
 * recomputing a round (they compare the result digests, which do not depend on the domain).
 */
export const UNCHECKED_DOMAIN: ArthaDomain = {
  chainId: 31337,
  verifyingContract: "0x0000000000000000000000000000000000000000",
};
