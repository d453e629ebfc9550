/** The coordinator's gateway as a DID's controller uses it, for the /did route tests. */
import type { ArthaClient } from "../../lib/chain/client.ts";
import { accountUploadSigner, uploadDomain } from "../../lib/store/upload_signature.ts";
import { Gateway } from "../../lib/worker/gateway.ts";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import type { Scenario } from "./_coordinator.ts";

/** The gateway of `s`, its uploads and signed reads signed by `client`'s account, as `did`. */
export function gatewayOf(s: Scenario, client: ArthaClient, did: string): Gateway {
  const { chainId, addresses } = s.ctx.chain;
  return new Gateway(new CoordinatorClient(s.call), {
    signer: accountUploadSigner(client),
    domain: uploadDomain(chainId, addresses.registry),
    did,
    now: () => s.ctx.now(),
  });
}
