/**
 * Where prepared datasets and wrapped keys go: the local SVDB store (`openFsStore`) or a
 * coordinator's SVDB gateway (`POST /svdb`). Either way an upload is bytes in, CID out.
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import type { Hex } from "../crypto/digest.ts";
import { Gateway, type GatewayOptions } from "../worker/gateway.ts";
import { CoordinatorClient, httpCoordinator } from "../worker/client.ts";
import { computeCid } from "../store/cid.ts";

/** Stores bytes in SVDB and returns their CID. */
export type Upload = (bytes: Uint8Array) => Promise<string>;

/**
 * Uploads into a local store.
 *
 * @example
 * ```ts
 * import { uploadToStore } from "./upload.ts";
 * import { Store } from "../store/store.ts";
 * import { MemoryBlockstore } from "../store/memory_blockstore.ts";
 * const cid = await uploadToStore(new Store(new MemoryBlockstore()))(new Uint8Array([1]));
 * console.assert(cid.startsWith("bafk"));
 * ```
 */
export function uploadToStore(store: Store): Upload {
  return async (bytes) => (await store.put(bytes)).toString();
}

/** Stores a grant's wrapped data key where the grantee will read it; returns its CID. */
export type StoreGrantKey = (
  grant: { datasetId: Hex; granteeDid: Hex; wrappedKey: Uint8Array },
) => Promise<string>;

/**
 * A grant's wrapped key through the coordinator's POST /did/grant (signed like an upload by the
 * account that controls the owner's DID): the coordinator keeps the key and the dataset it grants,
 * which a plain upload there only leases for a day.
 */
export function grantKeysToGateway(baseUrl: string, signing: GatewayOptions): StoreGrantKey {
  const gateway = new Gateway(new CoordinatorClient(httpCoordinator(baseUrl)), signing);
  return (grant) => gateway.storeGrantKey(grant);
}

/**
 * A DID's document through the coordinator at `baseUrl` (signed with the DID, which exists by
 * then), resolved there once stored: the coordinator keeps a document it resolved, where a plain
 * upload is only leased for a day.
 */
export function didDocumentsToGateway(
  baseUrl: string,
  signing: Omit<GatewayOptions, "did">,
): (bytes: Uint8Array, did: string) => Promise<string> {
  const client = new CoordinatorClient(httpCoordinator(baseUrl));
  return (bytes, did) => new Gateway(client, { ...signing, did }).storeDidDocument(bytes, did);
}

/**
 * Uploads through a coordinator's SVDB gateway at `baseUrl`, signed as `signing` says (the
 * owner's account and DID: a coordinator refuses unsigned uploads); the CID it answers is
 * checked against the bytes.
 *
 * @example
 * ```ts
 * import { uploadToGateway } from "./upload.ts";
 * const upload = uploadToGateway("http://127.0.0.1:8787");
 * console.assert(typeof upload === "function");
 * ```
 */
export function uploadToGateway(baseUrl: string, signing: GatewayOptions = {}): Upload {
  const gateway = new Gateway(new CoordinatorClient(httpCoordinator(baseUrl)), signing);
  return async (bytes) => {
    const [cid, expected] = await Promise.all([gateway.put(bytes), computeCid(bytes)]);
    if (cid !== expected.toString()) {
      throw new Error(`Cannot trust ${baseUrl}: it stored the bytes of ${expected} as ${cid}`);
    }
    return cid;
  };
}
