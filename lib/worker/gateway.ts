/**
 * SVDB through the coordinator's gateway, as the worker sees it: reads by CID checked against
 * the CID (and cached, since content addressing makes them immutable), uploads, job specs and
 * checkpoint weights by CID.
 *
 * @example
 * ```ts
 * import { Gateway } from "./gateway.ts";
 * import { CoordinatorClient } from "./client.ts";
 * import { computeCid } from "../store/cid.ts";
 * const bytes = new TextEncoder().encode("hello");
 * const cid = (await computeCid(bytes)).toString();
 * const gateway = new Gateway(new CoordinatorClient(() => Promise.resolve(new Response(bytes))));
 * console.assert((await gateway.get(cid)).length === 5);
 * ```
 */
import { computeCid } from "../store/cid.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { type JobSpec, parseJobSpec } from "../job/job_spec.ts";
import type { CoordinatorClient } from "./client.ts";

/** Verified, cached SVDB reads and uploads through the coordinator. */
export class Gateway {
  readonly #client: CoordinatorClient;
  #bytes = new Map<string, Uint8Array>();
  #specs = new Map<string, JobSpec>();

  constructor(client: CoordinatorClient) {
    this.#client = client;
  }

  /** The bytes of `cid`, checked against it. */
  async get(cid: string): Promise<Uint8Array> {
    const hit = this.#bytes.get(cid);
    if (hit) return hit;
    const bytes = await this.#client.getBytes(`/svdb/${cid}`);
    const actual = (await computeCid(bytes, { cidVersion: cid.startsWith("Qm") ? 0 : 1 }))
      .toString();
    if (actual !== cid) {
      throw new Error(`Cannot trust ${cid}: the gateway returned bytes of ${actual}`);
    }
    this.#bytes.set(cid, bytes);
    return bytes;
  }

  /** Uploads `bytes`; returns their CID. */
  async put(bytes: Uint8Array): Promise<string> {
    const { cid } = await this.#client.postBytes<{ cid: string }>("/svdb", bytes);
    return cid;
  }

  /** The job spec stored at `cid`. */
  async spec(cid: string): Promise<JobSpec> {
    let spec = this.#specs.get(cid);
    if (!spec) {
      spec = parseJobSpec(await this.get(cid));
      this.#specs.set(cid, spec);
    }
    return spec;
  }

  /** The weights of the checkpoint stored at `cid`. */
  async weights(cid: string): Promise<Float32Array> {
    return decodeCheckpoint(await this.get(cid)).weights;
  }
}
