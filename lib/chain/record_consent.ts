/** Gives or withdraws a subject's consent for a purpose (ArthaDIDRegistry.recordConsent). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";
import { sendContract, type SendResult } from "./send_contract.ts";

/**
 * Sends the consent record (the subject DID's controller only).
 *
 * @example
 * ```ts ignore
 * await recordConsent(client, { addresses, subjectDid, purposeHash, given: true });
 * ```
 */
export function recordConsent(
  client: ArthaClient,
  params: {
    addresses: Pick<ArthaAddresses, "dids">;
    subjectDid: Hex;
    purposeHash: Hex;
    given: boolean;
  },
): Promise<SendResult> {
  return sendContract(client, {
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "recordConsent",
    args: [params.subjectDid, params.purposeHash, params.given],
  });
}
