/**
 * Before anything is uploaded: the owner DID must be controlled by the account that will
 * register the dataset, and every grantee DID must be registered, not revoked, and hold an
 * encryption key a data key can be wrapped to. A problem
 * is a {@link DatasetInputError}, so the CLI stops with status 2 and nothing is stored.
 *
 * @module
 */
import { type Hex, hexToBytes } from "../crypto/digest.ts";
import { canWrapTo } from "../crypto/key_wrap.ts";
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
    // Found in the DID audit: a key no data key can be wrapped to failed the grant after the
    // dataset was registered on chain, and the data key was lost.
    if (!canWrapTo(hexToBytes(grantee.encKey))) {
      throw new DatasetInputError(
        `Cannot grant ${formatDid(didHash)}: its encryption key takes no wrapped key ` +
          "(a low-order point); it must rotate its keys first",
      );
    }
  }
}
