/**
 * Content identifiers for the SVDB: IPFS-compatible CIDs, `artha://<cid>` URIs and block
 * verification.
 *
 * Files are chunked the way `ipfs add` does it (256 KiB fixed chunks, balanced DAG with
 * at most 174 links per node), so a CID computed here names the same bytes in any IPFS
 * node. CIDv1 with raw leaves is the default (like `ipfs add --cid-version=1`); CIDv0 is
 * what plain `ipfs add` prints.
 *
 * @module
 */
import { CID } from "multiformats/cid";
import { importBytes, importByteStream, type ImporterOptions } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";

export { CID };

/** URI scheme prefix of SVDB objects. */
export const ARTHA_URI_PREFIX = "artha://";
/** Chunk size of the DAG builder (same as `ipfs add`). */
export const CHUNK_SIZE = 262_144;
/** Maximum links per DAG node (same as `ipfs add`). */
export const MAX_CHILDREN_PER_NODE = 174;
/** Multicodec of raw leaf blocks. */
export const RAW_CODE = 0x55;
/** Multicodec of dag-pb (UnixFS) blocks. */
export const DAG_PB_CODE = 0x70;
/** Multihash code of sha2-256, the only block hash accepted. */
export const SHA2_256_CODE = 0x12;

/** CID version and leaf encoding. */
export interface CidOptions {
  /** 1 (default): CIDv1, raw leaves. 0: CIDv0, dag-pb leaves, as plain `ipfs add`. */
  cidVersion?: 0 | 1;
}

/** Thrown for a string that is not a CID or `artha://` URI, or a CID the SVDB cannot read. */
export class InvalidCidError extends Error {
  /** Stable error code. */
  readonly code = "CID_INVALID";
  /** The rejected input. */
  readonly input: string;
  /** @param input rejected text @param reason why */
  constructor(input: string, reason: string, options?: ErrorOptions) {
    super(`Cannot parse CID "${input.slice(0, 80)}": ${reason}`, options);
    this.name = "InvalidCidError";
    this.input = input;
  }
}

/** Thrown when a block's bytes do not hash to its CID (tampered or truncated block). */
export class CidMismatchError extends Error {
  /** Stable error code. */
  readonly code = "CID_MISMATCH";
  /** The CID that was asked for. */
  readonly expected: string;
  /** The sha2-256 multihash digest (hex) of the bytes found. */
  readonly actual: string;
  /** @param details expected CID and actual digest */
  constructor(details: { expected: string; actual: string }, options?: ErrorOptions) {
    super(
      `Cannot accept block ${details.expected}: its bytes hash to ${details.actual} (tampered or truncated)`,
      options,
    );
    this.name = "CidMismatchError";
    this.expected = details.expected;
    this.actual = details.actual;
  }
}

/**
 * Parses a CID string (v0 `Qm…` or v1 multibase) or an `artha://<cid>` URI.
 *
 * @throws {InvalidCidError} when the text is not a CID
 * @example
 * ```ts
 * import { parseCid } from "./cid.ts";
 * const cid = parseCid("artha://QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * console.assert(cid.version === 0);
 * ```
 */
export function parseCid(text: string | CID): CID {
  if (typeof text !== "string") {
    const cid = CID.asCID(text);
    if (cid === null) throw new InvalidCidError(String(text), "not a CID object");
    return cid;
  }
  const body = text.startsWith(ARTHA_URI_PREFIX) ? text.slice(ARTHA_URI_PREFIX.length) : text;
  try {
    return CID.parse(body);
  } catch (cause) {
    throw new InvalidCidError(text, "not a valid CIDv0/CIDv1 string", { cause });
  }
}

/**
 * The usual spellings of one CID, for lookups keyed by a CID's text (a chain registry's): as
 * given, CIDv1 in base32 (how this store names files), and CIDv0 (how `ipfs add` names them) when
 * the CID has one. Found in the inference audit: a model published as Qm... was not found under
 * its bafy... spelling, so data naming the same bytes could be made private over it.
 *
 * @example
 * ```ts
 * import { cidSpellings } from "./cid.ts";
 * const v0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
 * const [given, v1] = cidSpellings(v0);
 * console.assert(given === v0 && v1!.startsWith("bafy") && cidSpellings(v1!).includes(v0));
 * ```
 */
export function cidSpellings(text: string): string[] {
  const cid = parseCid(text);
  const out = new Set([text, cid.toV1().toString()]);
  if (cid.code === DAG_PB_CODE && cid.multihash.code === SHA2_256_CODE) {
    out.add(cid.toV0().toString());
  }
  return [...out];
}

/**
 * Formats a CID as an `artha://<cid>` URI.
 *
 * @example
 * ```ts
 * import { formatArthaUri, parseArthaUri } from "./cid.ts";
 * const uri = "artha://bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
 * console.assert(formatArthaUri(parseArthaUri(uri)) === uri);
 * ```
 */
export function formatArthaUri(cid: CID | string): string {
  return ARTHA_URI_PREFIX + parseCid(cid).toString();
}

/**
 * Parses an `artha://<cid>` URI; unlike {@link parseCid} the scheme is required.
 *
 * @throws {InvalidCidError} when the scheme or the CID is wrong
 * @example
 * ```ts
 * import { parseArthaUri } from "./cid.ts";
 * console.assert(parseArthaUri("artha://QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH").version === 0);
 * ```
 */
export function parseArthaUri(uri: string): CID {
  if (typeof uri !== "string" || !uri.startsWith(ARTHA_URI_PREFIX)) {
    throw new InvalidCidError(String(uri), `expected a URI starting with ${ARTHA_URI_PREFIX}`);
  }
  return parseCid(uri);
}

/**
 * Checks that a CID names something the SVDB can read: sha2-256, raw or dag-pb.
 *
 * @throws {InvalidCidError} otherwise
 * @example
 * ```ts
 * import { assertSupportedCid, parseCid } from "./cid.ts";
 * assertSupportedCid(parseCid("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"));
 * ```
 */
export function assertSupportedCid(cid: CID): void {
  if (cid.multihash.code !== SHA2_256_CODE) {
    throw new InvalidCidError(
      cid.toString(),
      `hash 0x${cid.multihash.code.toString(16)} is not sha2-256`,
    );
  }
  if (cid.code !== RAW_CODE && cid.code !== DAG_PB_CODE) {
    throw new InvalidCidError(
      cid.toString(),
      `codec 0x${cid.code.toString(16)} is not raw or dag-pb`,
    );
  }
}

/**
 * Verifies that `bytes` hash to `cid` (sha2-256 via WebCrypto).
 *
 * @throws {CidMismatchError} when they do not
 * @throws {InvalidCidError} when the CID's hash is not sha2-256
 * @example
 * ```ts
 * import { computeCid, verifyBlock } from "./cid.ts";
 * const bytes = new TextEncoder().encode("hello world\n");
 * await verifyBlock(await computeCid(bytes), bytes);
 * ```
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  assertSupportedCid(cid);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  const expected = cid.multihash.digest;
  let same = digest.length === expected.length;
  for (let i = 0; same && i < digest.length; i++) same = digest[i] === expected[i];
  if (!same) {
    const actual = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    throw new CidMismatchError({ expected: cid.toString(), actual });
  }
}

/**
 * Importer options equal to `ipfs add` (v0) or `ipfs add --cid-version=1` (v1).
 *
 * @example
 * ```ts
 * import { importerOptions } from "./cid.ts";
 * console.assert(importerOptions({ cidVersion: 0 }).rawLeaves === false);
 * ```
 */
export function importerOptions(options: CidOptions = {}): ImporterOptions {
  const v0 = options.cidVersion === 0;
  return {
    cidVersion: v0 ? 0 : 1,
    rawLeaves: !v0,
    leafType: "file",
    reduceSingleLeafToSelf: true,
    wrapWithDirectory: false,
    chunker: fixedSize({ chunkSize: CHUNK_SIZE }),
    layout: balanced({ maxChildrenPerNode: MAX_CHILDREN_PER_NODE }),
  };
}

/**
 * Computes the CID of `bytes` (or a byte stream) without storing anything.
 *
 * @example
 * ```ts
 * import { computeCid } from "./cid.ts";
 * const cid = await computeCid(new Uint8Array(), { cidVersion: 0 });
 * console.assert(cid.toString() === "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
 * ```
 */
export async function computeCid(
  content: Uint8Array | AsyncIterable<Uint8Array>,
  options: CidOptions = {},
): Promise<CID> {
  const sink = { put: (cid: CID) => cid };
  const opts = importerOptions(options);
  const result = content instanceof Uint8Array
    ? await importBytes(content, sink, opts)
    : await importByteStream(content, sink, opts);
  return result.cid;
}
