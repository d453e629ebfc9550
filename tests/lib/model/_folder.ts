/** Hand-built UnixFS directory blocks, for folders no honest exporter would write. */
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { DAG_PB_CODE } from "../../../lib/store/cid.ts";

/** A directory block linking `links` by name, kept in `blocks` under its CID. */
export async function directoryBlock(
  blocks: Map<string, Uint8Array>,
  links: [string, CID][],
): Promise<CID> {
  const bytes = dagPb.encode(dagPb.prepare({
    Data: new UnixFS({ type: "directory" }).marshal(),
    Links: links.map(([Name, Hash]) => ({ Name, Hash, Tsize: 1 })),
  }));
  const cid = CID.createV1(DAG_PB_CODE, await sha256.digest(bytes));
  blocks.set(cid.toString(), bytes);
  return cid;
}
