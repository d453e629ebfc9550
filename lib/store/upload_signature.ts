/**
 * Signed uploads to an SVDB gateway: who may store bytes is decided by a signature over the
 * request, carried in headers.
 *
 * The signer signs the EIP-712 struct `SvdbUpload(string method, string path, bytes32 bodySha256,
 * uint64 timestamp, bytes32 nonce)` in the ArthaTrain domain of the deployment's NodeCertRegistry
 * (so a signature counts on one chain and deployment only). A node signs its 32-byte digest with
 * its Ed25519 key (as it signs its binding); an EVM account signs the typed data (secp256k1, any
 * wallet's `signTypedData`). The body's sha256 is declared in a header and covered by the
 * signature, so the gateway can check who is asking before it reads a byte of the body, then
 * checks that the body is the one signed.
 *
 * Headers: `x-artha-signer` (0x + 32-byte node key, or 0x + 20-byte address), `x-artha-signature`,
 * `x-artha-timestamp` (ms since the epoch), `x-artha-nonce` (32 random bytes),
 * `x-artha-content-sha256`, and optionally `x-artha-did` (`did:artha:…`, a DID the account
 * controls, for owners who have no job yet).
 *
 * @example
 * ```ts
 * import { generateNodeKey } from "../crypto/keys.ts";
 * import { nodeUploadSigner, readUploadHeaders, signUpload, uploadDomain, verifyUpload } from "./upload_signature.ts";
 * const domain = uploadDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
 * const body = new TextEncoder().encode("weights");
 * const headers = await signUpload(nodeUploadSigner(generateNodeKey()), domain, body);
 * const upload = readUploadHeaders(new Headers(headers));
 * console.assert(await verifyUpload(upload, domain, { method: "POST", path: "/svdb" }));
 * ```
 *
 * @module
 */
import { type Address, type Hex, recoverAddress } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import {
  type ArthaDomain,
  arthaDomain,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  typedDigest,
} from "../crypto/domain.ts";
import { type NodeKey, signBytes, verifyBytes } from "../crypto/keys.ts";
import { bytesToHex, hexToBytes } from "../crypto/digest.ts";

/** Header names of a signed upload. */
export const UPLOAD_HEADERS = {
  signer: "x-artha-signer",
  signature: "x-artha-signature",
  timestamp: "x-artha-timestamp",
  nonce: "x-artha-nonce",
  contentSha256: "x-artha-content-sha256",
  did: "x-artha-did",
} as const;

/**
 * The CID a private upload (POST /svdb/private) declares, computed by the uploader: the gateway
 * makes it private before it stores a byte, and refuses bytes already stored (public).
 */
export const PRIVATE_CID_HEADER = "x-artha-cid";

/**
 * The origin (`https://host:port`) a signed read was made for. The signed path is then
 * `<origin>/svdb/<cid>`, so the signature holds only at that server: a phishing coordinator that
 * had a node sign a read of a job's private data cannot replay it at the real one.
 */
export const SIGNED_ORIGIN_HEADER = "x-artha-origin";

/** The path a read of `cid` signs: bound to `origin` when there is one. */
export function signedReadPath(cid: string, origin?: string): string {
  return `${origin ?? ""}/svdb/${cid}`;
}

const UPLOAD_TYPE = "SvdbUpload";
const UPLOAD_FIELDS = [
  { name: "method", type: "string" },
  { name: "path", type: "string" },
  { name: "bodySha256", type: "bytes32" },
  { name: "timestamp", type: "uint64" },
  { name: "nonce", type: "bytes32" },
] as const;

/** What a signature covers. */
export interface UploadRequest {
  method: string;
  path: string;
  bodySha256: Hex;
  timestamp: number;
  nonce: Hex;
}

/** Who signs: a node's Ed25519 key or an EVM account. */
export interface UploadSigner {
  /** The node key (0x + 64 hex) or the account address (0x + 40 hex). */
  readonly id: Hex;
  /** Signs `request` in `domain`. */
  sign(domain: ArthaDomain, request: UploadRequest): Promise<Hex>;
}

/** A parsed, not yet verified, signed upload (method and path are the request's). */
export interface SignedUpload extends Omit<UploadRequest, "method" | "path"> {
  /** "node" for an Ed25519 key, "account" for an EVM address. */
  kind: "node" | "account";
  /** Lowercase signer id. */
  signer: Hex;
  signature: Hex;
  /** A DID the account names as its credential (hash, 0x + 64 hex), if any. */
  didHash?: Hex;
}

/** Thrown by {@link readUploadHeaders} when a request carries no usable signature. */
export class UploadSignatureError extends Error {
  /** SIGNATURE_MISSING or SIGNATURE_MALFORMED. */
  readonly code: "SIGNATURE_MISSING" | "SIGNATURE_MALFORMED";
  /** @param code which @param message why */
  constructor(code: UploadSignatureError["code"], message: string) {
    super(message);
    this.name = "UploadSignatureError";
    this.code = code;
  }
}

/**
 * Where upload signatures count: the deployment's NodeCertRegistry (which says who is a node)
 * on its chain.
 */
export function uploadDomain(chainId: number, registry: Address): ArthaDomain {
  return arthaDomain(chainId, registry);
}

/** The 32-byte digest a signer signs. */
export function uploadDigest(domain: ArthaDomain, request: UploadRequest): Hex {
  return typedDigest(domain, UPLOAD_TYPE, UPLOAD_FIELDS, typedMessage(request));
}

function typedMessage(r: UploadRequest) {
  return { ...r, timestamp: BigInt(r.timestamp) };
}

/** A node signing with its Ed25519 key. */
export function nodeUploadSigner(key: NodeKey): UploadSigner {
  return {
    id: key.publicKeyHex.toLowerCase() as Hex,
    sign: (domain, request) =>
      Promise.resolve(signBytes(key, hexToBytes(uploadDigest(domain, request)))),
  };
}

/** An EVM account signing the typed data through its client (a local key or a wallet). */
export function accountUploadSigner(
  client: Pick<ArthaClient, "account" | "signTypedData">,
): UploadSigner {
  return {
    id: client.account.address.toLowerCase() as Hex,
    sign: (domain, request) =>
      client.signTypedData(
        {
          account: client.account,
          domain: { name: DOMAIN_NAME, version: DOMAIN_VERSION, ...domain },
          types: { [UPLOAD_TYPE]: UPLOAD_FIELDS },
          primaryType: UPLOAD_TYPE,
          message: typedMessage(request),
        } as Parameters<ArthaClient["signTypedData"]>[0],
      ),
  };
}

/** The sha256 of `bytes` as 0x hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<Hex> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return bytesToHex(new Uint8Array(digest));
}

/** Options of {@link signUpload}. */
export interface SignUploadOptions {
  /** Default "POST". */
  method?: string;
  /** Default "/svdb". */
  path?: string;
  /** Default the wall clock. */
  now?: number;
  /** Default 32 random bytes. */
  nonce?: Hex;
  /** A DID the signing account controls (`did:artha:…`), sent as its credential. */
  did?: string;
}

/** The headers that sign an upload of `body`. */
export async function signUpload(
  signer: UploadSigner,
  domain: ArthaDomain,
  body: Uint8Array,
  options: SignUploadOptions = {},
): Promise<Record<string, string>> {
  const request: UploadRequest = {
    method: options.method ?? "POST",
    path: options.path ?? "/svdb",
    bodySha256: await sha256Hex(body),
    timestamp: Math.floor(options.now ?? Date.now()),
    nonce: options.nonce ?? bytesToHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  const headers: Record<string, string> = {
    [UPLOAD_HEADERS.signer]: signer.id,
    [UPLOAD_HEADERS.signature]: await signer.sign(domain, request),
    [UPLOAD_HEADERS.timestamp]: String(request.timestamp),
    [UPLOAD_HEADERS.nonce]: request.nonce,
    [UPLOAD_HEADERS.contentSha256]: request.bodySha256,
  };
  if (options.did) headers[UPLOAD_HEADERS.did] = options.did;
  return headers;
}

/**
 * A JSON body and the headers that sign it like an upload to `path`: what a coordinator's
 * owner-only routes take (POST /assign, by the job's owner). Send the body as given: the
 * signature covers its bytes. `now` is the signing time (default the wall clock).
 */
export async function signJson(
  signer: UploadSigner,
  domain: ArthaDomain,
  path: string,
  value: unknown,
  now?: number,
): Promise<{ headers: Record<string, string>; body: string }> {
  const body = JSON.stringify(value);
  const bytes = new TextEncoder().encode(body);
  const signed = await signUpload(signer, domain, bytes, { path, now });
  return { headers: { ...signed, "content-type": "application/json" }, body };
}

const HEX = (bytes: number) => new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`);
const DID = /^did:artha:([0-9a-f]{64})$/;

/**
 * The signed upload a request's headers carry.
 *
 * @throws {UploadSignatureError} SIGNATURE_MISSING without a signer or signature,
 * SIGNATURE_MALFORMED when a header is not in its format
 */
export function readUploadHeaders(headers: Headers): SignedUpload {
  const get = (name: string) => headers.get(name)?.trim() ?? "";
  const signer = get(UPLOAD_HEADERS.signer).toLowerCase() as Hex;
  const signature = get(UPLOAD_HEADERS.signature) as Hex;
  if (!signer || !signature) {
    const why =
      `Cannot store: sign the upload (${UPLOAD_HEADERS.signer}, ${UPLOAD_HEADERS.signature})`;
    throw new UploadSignatureError("SIGNATURE_MISSING", why);
  }
  const malformed = (what: string) =>
    new UploadSignatureError("SIGNATURE_MALFORMED", `Cannot store: ${what}`);
  const kind = HEX(32).test(signer) ? "node" : HEX(20).test(signer) ? "account" : undefined;
  if (!kind) throw malformed(`${UPLOAD_HEADERS.signer} is neither a node key nor an address`);
  if (!HEX(kind === "node" ? 64 : 65).test(signature)) {
    throw malformed(`${UPLOAD_HEADERS.signature} is not a ${kind} signature`);
  }
  const timestamp = Number(get(UPLOAD_HEADERS.timestamp));
  if (!/^\d{1,16}$/.test(get(UPLOAD_HEADERS.timestamp)) || !Number.isSafeInteger(timestamp)) {
    throw malformed(`${UPLOAD_HEADERS.timestamp} must be milliseconds since the epoch`);
  }
  const nonce = get(UPLOAD_HEADERS.nonce).toLowerCase() as Hex;
  const bodySha256 = get(UPLOAD_HEADERS.contentSha256).toLowerCase() as Hex;
  if (!HEX(32).test(nonce)) throw malformed(`${UPLOAD_HEADERS.nonce} must be 32 bytes of hex`);
  if (!HEX(32).test(bodySha256)) {
    throw malformed(`${UPLOAD_HEADERS.contentSha256} must be the body's sha256 in hex`);
  }
  const did = get(UPLOAD_HEADERS.did);
  const didMatch = did ? DID.exec(did) : null;
  if (did && !didMatch) throw malformed(`${UPLOAD_HEADERS.did} must be did:artha:<64 hex>`);
  return {
    kind,
    signer,
    signature,
    bodySha256,
    timestamp,
    nonce,
    didHash: didMatch ? `0x${didMatch[1]}` : undefined,
  };
}

/** Whether the upload's signature is its signer's over `request` (method, path) in `domain`. */
export async function verifyUpload(
  upload: SignedUpload,
  domain: ArthaDomain,
  request: { method: string; path: string },
): Promise<boolean> {
  const digest = uploadDigest(domain, { ...upload, ...request });
  if (upload.kind === "node") {
    return verifyBytes(upload.signer, hexToBytes(digest), upload.signature);
  }
  try {
    const address = await recoverAddress({ hash: digest, signature: upload.signature });
    return address.toLowerCase() === upload.signer;
  } catch {
    return false;
  }
}
