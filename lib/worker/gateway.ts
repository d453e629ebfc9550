/**
 * SVDB through the coordinator's gateway, as the worker sees it: reads by CID checked against
 * the CID (and cached, since content addressing makes them immutable, up to `cacheBytes`: the
 * least recently used go first, and a file larger than the cache, such as a large model's
 * checkpoint, is never kept), signed uploads, job specs and checkpoint weights by CID.
 *
 * Uploads are signed with the node's Ed25519 key (or an owner's EVM account) over the body's hash
 * (lib/store/upload_signature.ts): the coordinator stores bytes only for registered nodes and
 * owners, within a quota, and keeps them for a lease unless it comes to reference them.
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
import {
  PRIVATE_CID_HEADER,
  SIGNED_ORIGIN_HEADER,
  signedReadPath,
  signUpload,
  type UploadSigner,
} from "../store/upload_signature.ts";
import type { ArthaDomain } from "../crypto/domain.ts";
import { decodeCheckpoint } from "../model/checkpoint.ts";
import { decodeCheckpointStream } from "../round/update_stream.ts";
import { type ModelConfig, paramLayout } from "../../kernel/params.ts";
import { type JobSpec, MAX_SPEC_BYTES } from "../job/job_spec.ts";
import { SpecCache } from "../job/spec_cache.ts";
import {
  type CoordinatorClient,
  CoordinatorError,
  MAX_DOWNLOAD_BYTES,
  MAX_JSON_BYTES,
  readLimited,
} from "./client.ts";

/** Who signs uploads, and where the signature counts (the deployment's NodeCertRegistry). */
export interface GatewayOptions {
  signer?: UploadSigner;
  domain?: ArthaDomain;
  /** A DID the signing account controls, its credential before it owns a job. */
  did?: string;
  /** The clock signed timestamps read (default the wall clock; a simulation passes its own). */
  now?: () => number;
  /** Bytes of downloads kept for reuse (default 256 MiB). */
  cacheBytes?: number;
}

export { MAX_SPEC_BYTES };

/** What the worker's parsed specs may add up to: the jobs it works for, with room to spare. */
export const GATEWAY_SPEC_CACHE_BYTES = 16 * 2 ** 20;

/** Tries of a DID's resolution after its document is stored, ~31 s apart in all at 1 s. */
const DID_RESOLVE_RETRIES = 4;

/** Default of {@link GatewayOptions.cacheBytes}: a round's shards and the demo-size checkpoints. */
export const GATEWAY_CACHE_BYTES = 256 * 2 ** 20;

/** Verified, cached SVDB reads and signed uploads through the coordinator. */
export class Gateway {
  readonly #client: CoordinatorClient;
  readonly #options: GatewayOptions;
  #bytes = new Map<string, Uint8Array>(); // in order of use, least recent first
  #cached = 0;
  // Bounded: a coordinator can name a new spec in every task it offers, each one refused.
  #specs = new SpecCache(GATEWAY_SPEC_CACHE_BYTES);

  constructor(client: CoordinatorClient, options: GatewayOptions = {}) {
    this.#client = client;
    this.#options = options;
  }

  /**
   * The bytes of `cid` (at most `maxBytes`), checked against it; `signed` for a job's private
   * data (its shards), which only its owner, the coordinator and the nodes that need it read.
   */
  async get(cid: string, maxBytes?: number, signed = false): Promise<Uint8Array> {
    const hit = this.#bytes.get(cid);
    if (hit) {
      this.#bytes.delete(cid);
      this.#bytes.set(cid, hit);
      return hit;
    }
    const init = signed ? await this.#readInit(cid) : undefined;
    const bytes = await this.#client.getBytes(`/svdb/${cid}`, maxBytes, init);
    const actual = (await computeCid(bytes, { cidVersion: cid.startsWith("Qm") ? 0 : 1 }))
      .toString();
    if (actual !== cid) {
      throw new Error(`Cannot trust ${cid}: the gateway returned bytes of ${actual}`);
    }
    this.#keep(cid, bytes);
    return bytes;
  }

  /**
   * A read signed like an upload (method GET, path `/svdb/<cid>`), when the gateway has a signer:
   * a started job's shards and validation bytes are readable only by its owner, the coordinator and
   * the nodes that need them (lib/coordinator/svdb_private.ts). Only those reads are signed: a signature costs
   * the node and the coordinator about a millisecond each.
   */
  async #readInit(cid: string): Promise<RequestInit | undefined> {
    const { signer, domain, did, now } = this.#options;
    if (!signer || !domain) return undefined;
    // Bound to the coordinator's origin when the client knows it: valid at that server only.
    const origin = this.#client.origin;
    const path = signedReadPath(cid, origin);
    const opts = { method: "GET", path, did, now: now?.() };
    const headers = await signUpload(signer, domain, new Uint8Array(), opts);
    return { headers: origin ? { ...headers, [SIGNED_ORIGIN_HEADER]: origin } : headers };
  }

  /** Caches `bytes` if they fit, dropping the least recently used until they do. */
  #keep(cid: string, bytes: Uint8Array): void {
    const limit = this.#options.cacheBytes ?? GATEWAY_CACHE_BYTES;
    if (bytes.length > limit) return;
    for (const [old, b] of this.#bytes) {
      if (this.#cached + bytes.length <= limit) break;
      this.#bytes.delete(old);
      this.#cached -= b.length;
    }
    this.#bytes.set(cid, bytes);
    this.#cached += bytes.length;
  }

  /**
   * Uploads `bytes`, signed; returns their CID, computed here: the worker goes on to sign
   * statements naming it (a cluster submission), so the gateway's answer is only checked, never
   * taken (else whoever answers could make it sign another file as its work).
   */
  async put(bytes: Uint8Array): Promise<string> {
    return await this.#send(bytes, false);
  }

  /**
   * Uploads `bytes` private (POST /svdb/private, signed for that path, naming the CID computed
   * here): readable from the upload on by their uploader and the coordinator only, then by the
   * readers of the jobs that use them (an owner's data, a node's update). Bytes the gateway held
   * already are public whatever we do: they are stored as they are (`private: false`).
   */
  async putPrivate(bytes: Uint8Array): Promise<{ cid: string; private: boolean }> {
    try {
      return { cid: await this.#send(bytes, true), private: true };
    } catch (e) {
      if (!(e instanceof CoordinatorError && e.code === "ALREADY_PUBLIC")) throw e;
      return { cid: await this.#send(bytes, false), private: false };
    }
  }

  async #send(bytes: Uint8Array, secret: boolean): Promise<string> {
    try {
      return await this.#post(bytes, secret);
    } catch (e) {
      // A retried request whose first attempt did arrive: sign it afresh, once.
      if (!(e instanceof CoordinatorError && e.code === "SIGNATURE_REPLAYED")) throw e;
      return await this.#post(bytes, secret);
    }
  }

  /** POST /svdb, or POST /svdb/private with the CID computed here in `x-artha-cid`. */
  async #post(bytes: Uint8Array, secret: boolean): Promise<string> {
    const { signer, domain, did, now } = this.#options;
    if ((signer === undefined) !== (domain === undefined)) {
      throw new TypeError("Cannot upload: give the gateway both a signer and a domain");
    }
    const own = (await computeCid(bytes)).toString();
    const path = secret ? "/svdb/private" : "/svdb";
    const signed = signer && domain
      ? await signUpload(signer, domain, bytes, { did, now: now?.(), path })
      : {};
    const res = await this.#client.request(path, {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        ...(secret ? { [PRIVATE_CID_HEADER]: own } : {}),
        ...signed,
      },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    // Bounded like every JSON answer: read whole, an endless one took the laptop's memory.
    const answer = await readLimited(res, MAX_JSON_BYTES, `POST ${path}`);
    const { cid } = JSON.parse(new TextDecoder().decode(answer)) as { cid: string };
    if (cid !== own) {
      throw new Error(`Cannot trust the gateway: it stored our ${own} as ${String(cid)}`);
    }
    return own;
  }

  /**
   * Stores a DID's document (`bytes`, for `did`, which exists on chain by then) and resolves the
   * DID through the gateway: a resolved document is kept there (lib/coordinator/data_grants.ts),
   * where the upload alone was only leased. Returns the document's CID.
   *
   * @throws {Error} when the gateway resolves the DID to another document
   */
  async storeDidDocument(bytes: Uint8Array, did: string, retryMs = 1000): Promise<string> {
    const cid = await this.put(bytes);
    const path = `/did/resolve?did=${encodeURIComponent(did)}`;
    const named = (await this.#resolved(path, retryMs))?.didDocumentMetadata?.metaCid;
    if (named !== cid) {
      throw new Error(
        `Cannot trust the gateway: it resolves ${did} to ${String(named)}, not ${cid}`,
      );
    }
    return cid;
  }

  /**
   * GET `path` (a DID resolution), asked again while the coordinator does not know the DID yet
   * (its chain reader a few blocks behind). Found reading this change: the loop ran until an
   * answer came, so a coordinator answering 200 with an empty body was asked without end.
   */
  async #resolved(path: string, retryMs: number) {
    type Resolved = { didDocumentMetadata?: { metaCid?: unknown } } | undefined;
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#client.getJson<Resolved>(path);
      } catch (e) {
        const lagging = e instanceof CoordinatorError && e.code === "UNKNOWN_DID";
        if (!lagging || attempt >= DID_RESOLVE_RETRIES) throw e;
        await new Promise((done) => setTimeout(done, retryMs * 2 ** attempt));
      }
    }
  }

  /**
   * Stores a grant's wrapped data key through POST /did/grant, signed for that path by the
   * account that controls the dataset owner's DID: the coordinator keeps the key and the dataset
   * it grants (pinned, when the owner uploaded it), where a plain upload is only leased. Returns
   * the key's CID, checked against the one computed here.
   */
  async storeGrantKey(grant: {
    datasetId: `0x${string}`;
    granteeDid: `0x${string}`;
    wrappedKey: Uint8Array;
  }): Promise<string> {
    const { signer, domain, did, now } = this.#options;
    if (!signer || !domain) {
      throw new TypeError("Cannot store a grant's key: give the gateway a signer and a domain");
    }
    const own = (await computeCid(grant.wrappedKey)).toString();
    const wrappedKey = Array.from(grant.wrappedKey, (b) => b.toString(16).padStart(2, "0"));
    const body = new TextEncoder().encode(JSON.stringify({
      datasetId: grant.datasetId,
      granteeDid: grant.granteeDid,
      wrappedKey: `0x${wrappedKey.join("")}`,
    }));
    const path = "/did/grant";
    const signed = await signUpload(signer, domain, body, { did, now: now?.(), path });
    const res = await this.#client.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...signed },
      body: body as Uint8Array<ArrayBuffer>,
    });
    const answer = await readLimited(res, MAX_JSON_BYTES, `POST ${path}`);
    const { wrappedKeyCid } = JSON.parse(new TextDecoder().decode(answer)) as {
      wrappedKeyCid: string;
    };
    if (wrappedKeyCid !== own) {
      throw new Error(`Cannot trust the gateway: it stored our ${own} as ${String(wrappedKeyCid)}`);
    }
    return own;
  }

  /** The job spec stored at `cid` (checked against it; cached within 16 MiB). */
  async spec(cid: string): Promise<JobSpec> {
    return await this.#specs.get(cid, () => this.get(cid, MAX_SPEC_BYTES));
  }

  /**
   * The weights of the checkpoint stored at `cid`. Unless cached, the download streams into the
   * CID check and the decode at once, so a large model's file is never held whole; the weights
   * are returned only once the bytes proved to be `cid`'s. The download stops past what the
   * job's model can take (its parameters as f32 and a header), or past MAX_DOWNLOAD_BYTES
   * without one: the CID check reads every byte, so an endless body was read for as long as the
   * coordinator sent it.
   */
  async weights(cid: string, model?: ModelConfig): Promise<Float32Array> {
    const hit = this.#bytes.get(cid);
    if (hit) return decodeCheckpoint(hit).weights;
    const body = (await this.#client.request(`/svdb/${cid}`)).body;
    if (!body) throw new Error(`Cannot trust ${cid}: the gateway returned no body`);
    const max = model
      ? 4 * paramLayout(model).size + MAX_CHECKPOINT_HEADER_BYTES
      : MAX_DOWNLOAD_BYTES;
    const [forCid, forWeights] = body.tee().map((b) => b.getReader());
    const cidOf = computeCid(capped(chunksOf(forCid!), max, `GET /svdb/${cid}`), {
      cidVersion: cid.startsWith("Qm") ? 0 : 1,
    }).catch(async (e) => {
      await Promise.all([forCid!.cancel(), forWeights!.cancel()]);
      throw e;
    });
    const [actual, weights] = await Promise.all([
      cidOf,
      // A decode that fails early stops its branch, or the tee would buffer the rest for it.
      decodeCheckpointStream(chunksOf(forWeights!), model).catch(async (e) => {
        await forWeights!.cancel();
        return e as Error;
      }),
    ]);
    if (actual.toString() !== cid) {
      throw new Error(`Cannot trust ${cid}: the gateway returned bytes of ${actual}`);
    }
    if (weights instanceof Error) throw weights;
    return weights;
  }
}

/** The most a checkpoint's header and metadata may take beside its f32 weights. */
export const MAX_CHECKPOINT_HEADER_BYTES = 16 * 2 ** 20;

/** `chunks`, refused once they add up to more than `max` bytes. */
async function* capped(
  chunks: AsyncIterable<Uint8Array>,
  max: number,
  what: string,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const c of chunks) {
    total += c.length;
    if (total > max) throw new RangeError(`Cannot read ${what}: larger than ${max} bytes`);
    yield c;
  }
}

/** A reader's chunks (a read loop: async iteration of streams is not in every browser). */
async function* chunksOf(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
}
