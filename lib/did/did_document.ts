/**
 * W3C DID Core documents for `did:artha`, stored in the SVDB by CID (the registry's
 * `metaCid`).
 *
 * Keys are `Multikey` verification methods: the Ed25519 key (`z6Mk…`) for `authentication`
 * and `assertionMethod`, the X25519 key (`z6LS…`) for `keyAgreement`. Documents are written
 * with a fixed key order, so the same document always has the same CID.
 *
 * @module
 */
import { base58btc } from "multiformats/bases/base58";
import { bytesToHex, type Hex, hexToBytes } from "../crypto/digest.ts";
import { type CID, InvalidCidError } from "../store/cid.ts";
import { DagTooLargeError, type Store } from "../store/store.ts";
import { formatDid, InvalidDidError, parseDid } from "./did.ts";

/** Multicodec prefix of an Ed25519 public key (varint 0xed). */
const ED25519_PUB = [0xed, 0x01];
/** Multicodec prefix of an X25519 public key (varint 0xec). */
const X25519_PUB = [0xec, 0x01];

/** A `Multikey` verification method. */
export interface VerificationMethod {
  id: string;
  type: "Multikey";
  controller: string;
  publicKeyMultibase: string;
}

/** A service endpoint. */
export interface DidService {
  id: string;
  type: string;
  serviceEndpoint: string;
}

/** A DID document as stored in the SVDB. */
export interface DidDocument {
  "@context": string[];
  id: string;
  verificationMethod: VerificationMethod[];
  authentication: string[];
  assertionMethod: string[];
  keyAgreement: string[];
  service?: DidService[];
}

/** Inputs of {@link buildDidDocument}. */
export interface BuildDidDocumentParameters {
  /** The DID hash (bytes32). */
  didHash: Hex;
  /** Ed25519 public key (bytes32 hex). */
  authKey: Hex;
  /** X25519 public key (bytes32 hex). */
  encKey: Hex;
  /** Key version, used in key ids (`#auth-<n>`); bump on rotation. Default 1. */
  keyVersion?: number;
  /** Optional service endpoints (id fragments without the DID). */
  services?: { id: string; type: string; serviceEndpoint: string }[];
}

/** Largest DID document read (a document is two keys and a few services: ~1 KB). */
export const MAX_DID_DOCUMENT_BYTES = 64 * 1024;

/** Thrown when a stored document is malformed or disagrees with the chain. */
export class DidDocumentError extends Error {
  /** Stable error code. */
  readonly code = "DID_DOCUMENT_INVALID";
  /** @param message what is wrong */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DidDocumentError";
  }
}

/**
 * Builds the DID document of a DID with the given keys.
 *
 * @example
 * ```ts
 * import { buildDidDocument, documentKeys } from "./did_document.ts";
 * const key = `0x${"11".repeat(32)}` as const;
 * const doc = buildDidDocument({ didHash: key, authKey: key, encKey: key });
 * console.assert(doc.verificationMethod[0]!.publicKeyMultibase.startsWith("z6Mk"));
 * console.assert(documentKeys(doc).encKey === key);
 * ```
 */
export function buildDidDocument(params: BuildDidDocumentParameters): DidDocument {
  const id = formatDid(params.didHash);
  const v = params.keyVersion ?? 1;
  const auth = `${id}#auth-${v}`;
  const enc = `${id}#enc-${v}`;
  const doc: DidDocument = {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    id,
    verificationMethod: [
      {
        id: auth,
        type: "Multikey",
        controller: id,
        publicKeyMultibase: multikey(ED25519_PUB, params.authKey),
      },
      {
        id: enc,
        type: "Multikey",
        controller: id,
        publicKeyMultibase: multikey(X25519_PUB, params.encKey),
      },
    ],
    authentication: [auth],
    assertionMethod: [auth],
    keyAgreement: [enc],
  };
  if (params.services?.length) {
    doc.service = params.services.map((s) => ({
      id: `${id}#${s.id}`,
      type: s.type,
      serviceEndpoint: s.serviceEndpoint,
    }));
  }
  return doc;
}

/**
 * The DID a document names itself by. Found in the DID audit: an id that was no did:artha threw
 * InvalidDidError, which GET /did/resolve answered 500, logging the id's first 90 characters (a
 * DID may name any file as its document). Its text is not repeated here.
 */
function didOfDocument(doc: DidDocument): Hex {
  try {
    return parseDid(doc.id);
  } catch (e) {
    if (!(e instanceof InvalidDidError)) throw e;
    throw new DidDocumentError("Cannot read DID document: its id is not a did:artha:<64 hex>");
  }
}

/**
 * The DID hash and the first authentication and key-agreement keys of a document.
 *
 * @throws {DidDocumentError} when the document lacks them or encodes them wrongly
 */
export function documentKeys(doc: DidDocument): { didHash: Hex; authKey: Hex; encKey: Hex } {
  const didHash = didOfDocument(doc);
  // A document is anyone's JSON: every shape is checked, so a wrong one is this error, never a
  // TypeError (found in the DID audit: `verificationMethod: {}` answered GET /did/resolve 500).
  const methods: unknown[] = Array.isArray(doc.verificationMethod) ? doc.verificationMethod : [];
  const firstOf = (list: unknown) => Array.isArray(list) ? list[0] : undefined;
  const find = (ref: unknown, prefix: number[], what: string): Hex => {
    const vm = methods.find((m): m is { publicKeyMultibase: unknown } =>
      typeof m === "object" && m !== null && typeof ref === "string" &&
      (m as { id?: unknown }).id === ref
    );
    if (!vm || typeof vm.publicKeyMultibase !== "string") {
      throw new DidDocumentError(`Cannot read DID document ${doc.id}: no ${what} key`);
    }
    return fromMultikey(vm.publicKeyMultibase, prefix, what);
  };
  return {
    didHash,
    authKey: find(firstOf(doc.authentication), ED25519_PUB, "authentication"),
    encKey: find(firstOf(doc.keyAgreement), X25519_PUB, "keyAgreement"),
  };
}

/**
 * Stores a document in the SVDB (canonical JSON) and returns its CID.
 *
 * @example
 * ```ts
 * import { buildDidDocument, loadDidDocument, publishDidDocument } from "./did_document.ts";
 * import { MemoryBlockstore } from "../store/memory_blockstore.ts";
 * import { Store } from "../store/store.ts";
 * const store = new Store(new MemoryBlockstore());
 * const k = `0x${"22".repeat(32)}` as const;
 * const cid = await publishDidDocument(store, buildDidDocument({ didHash: k, authKey: k, encKey: k }));
 * console.assert((await loadDidDocument(store, cid)).id.endsWith("22"));
 * ```
 */
export function publishDidDocument(store: Store, doc: DidDocument): Promise<CID> {
  return store.put(new TextEncoder().encode(JSON.stringify(doc)));
}

/**
 * Loads and checks a document from the SVDB.
 *
 * @throws {DidDocumentError} when it is not a DID document
 */
export async function loadDidDocument(store: Store, cid: CID | string): Promise<DidDocument> {
  // Anyone's DID may name any CID: a document is a few keys, never a model-sized file.
  let bytes: Uint8Array;
  try {
    bytes = await store.get(cid, { maxBytes: MAX_DID_DOCUMENT_BYTES });
  } catch (cause) {
    if (!(cause instanceof DagTooLargeError) && !(cause instanceof InvalidCidError)) throw cause;
    throw new DidDocumentError(`Cannot read DID document ${cid}: ${cause.message}`, { cause });
  }
  let doc: DidDocument;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new DidDocumentError(`Cannot read DID document ${cid}: not JSON`, { cause });
  }
  if (typeof doc !== "object" || doc === null || typeof doc.id !== "string") {
    throw new DidDocumentError(`Cannot read DID document ${cid}: no id`);
  }
  documentKeys(doc); // validates keys
  return doc;
}

function multikey(prefix: number[], keyHex: Hex): string {
  const key = hexToBytes(keyHex);
  if (key.length !== 32) throw new TypeError("Cannot encode Multikey: key must be 32 bytes");
  return base58btc.encode(new Uint8Array([...prefix, ...key]));
}

function fromMultikey(text: string, prefix: number[], what: string): Hex {
  let bytes: Uint8Array;
  try {
    bytes = base58btc.decode(text);
  } catch (cause) {
    throw new DidDocumentError(`Cannot read ${what} key: not base58btc multibase`, { cause });
  }
  if (bytes.length !== 34 || bytes[0] !== prefix[0] || bytes[1] !== prefix[1]) {
    throw new DidDocumentError(`Cannot read ${what} key: wrong multicodec or length`);
  }
  return bytesToHex(bytes.subarray(2));
}
