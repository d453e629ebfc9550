/** Whether a subject currently consents to a purpose (ArthaDIDRegistry.hasConsent). */
import type { Hex } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/**
 * The subject's latest consent record for the purpose (false when none).
 *
 * @example
 * ```ts ignore
 * const ok = await hasConsent(client, { addresses, subjectDid, purposeHash });
 * ```
 */
export function hasConsent(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; subjectDid: Hex; purposeHash: Hex },
): Promise<boolean> {
  return client.readContract({
    address: params.addresses.dids,
    abi: abis.dids,
    functionName: "hasConsent",
    args: [params.subjectDid, params.purposeHash],
  });
}
