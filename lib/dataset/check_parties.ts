/**
 * Before anything is uploaded: the owner DID must be controlled by the account that will
 * register the dataset, and every grantee DID must be registered and not revoked. A problem
 * is a {@link DatasetInputError}, so the CLI stops with status 2 and nothing is stored.
 *
 * @module
 */
import type { Hex } from "../crypto/digest.ts";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { getDid } from "../did/registry.ts";
import { formatDid } from "../did/did.ts";
import { DatasetInputError } from "./dataset_error.ts";

/**
 * Checks the owner and the grantees on chain (reads only).
 *
 * @throws {DatasetInputError} for an owner the client does not control, or an unknown or
 * revoked DID
 * @example
 * ```ts ignore
 * await checkParties(client, { addresses, ownerDid, grantees: [bobDid] });
 * ```
 */
export async function checkParties(
  client: ArthaClient,
  params: { addresses: Pick<ArthaAddresses, "dids">; ownerDid: Hex; grantees: Hex[] },
): Promise<void> {
  const { addresses, ownerDid } = params;
  const owner = await getDid(client, { addresses, didHash: ownerDid });
  if (!owner || owner.revoked) {
    const state = owner ? "is revoked" : "is not registered";
    throw new DatasetInputError(`Cannot publish as ${formatDid(ownerDid)}: the DID ${state}`);
  }
  if (owner.owner.toLowerCase() !== client.account.address.toLowerCase()) {
    throw new DatasetInputError(
      `Cannot publish as ${formatDid(ownerDid)}: it is controlled by ${owner.owner}, ` +
        `not by ${client.account.address} (ARTHA_PRIVATE_KEY)`,
    );
  }
  for (const didHash of params.grantees) {
    const grantee = await getDid(client, { addresses, didHash });
    if (!grantee || grantee.revoked) {
      const state = grantee ? "is revoked" : "is not registered";
      throw new DatasetInputError(`Cannot grant ${formatDid(didHash)}: the DID ${state}`);
    }
  }
}
