/**
 * Requests signed like an SVDB upload (lib/store/upload_signature.ts): the EIP-712 `SvdbUpload`
 * struct over the method, the path and the body's sha256, in the deployment's domain, within
 * `uploadSignatureWindowMs` of the coordinator's clock. Uploads (svdb_access.ts) add a signer
 * role, a quota and a one-time nonce; a job's start (`POST /assign`) adds that the signer is the
 * job's owner on chain.
 */
import type { Hex } from "viem";
import {
  readUploadHeaders,
  sha256Hex,
  SIGNED_ORIGIN_HEADER,
  signedReadPath,
  type SignedUpload,
  uploadDomain,
  UploadSignatureError,
  verifyUpload,
} from "../store/upload_signature.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";

/**
 * The signed request its headers carry, once its signature verifies for `request` and is fresh.
 * 401 with SIGNATURE_MISSING, SIGNATURE_MALFORMED, SIGNATURE_EXPIRED or SIGNATURE_INVALID;
 * messages start "Cannot `action`:".
 */
export async function verifySignedRequest(
  ctx: Context,
  headers: Headers,
  request: { method: string; path: string },
  action = "store",
): Promise<{ ok: true; upload: SignedUpload } | Rejection> {
  let upload: SignedUpload;
  try {
    upload = readUploadHeaders(headers);
  } catch (e) {
    if (!(e instanceof UploadSignatureError)) throw e;
    return reject(401, e.code, e.message.replace(/^Cannot store:/, `Cannot ${action}:`));
  }
  const skew = Math.abs(ctx.now() - upload.timestamp);
  if (skew > ctx.config.uploadSignatureWindowMs) {
    const why = `timestamp is ${skew} ms from the coordinator's clock ` +
      `(more than ${ctx.config.uploadSignatureWindowMs}); sign again`;
    return reject(401, "SIGNATURE_EXPIRED", `Cannot ${action}: ${why}`);
  }
  const domain = uploadDomain(ctx.chain.chainId, ctx.chain.addresses.registry);
  if (!await verifyUpload(upload, domain, request)) {
    const why = "signature does not verify for this signer, request and body hash";
    return reject(401, "SIGNATURE_INVALID", `Cannot ${action}: ${why}`);
  }
  return { ok: true, upload };
}

/**
 * {@link verifySignedRequest} for a body already read: its sha256 must be the signed one
 * (SIGNATURE_INVALID otherwise). Returns the signer (an address or a node key, lower case).
 */
export async function verifySignedBody(
  ctx: Context,
  headers: Headers,
  body: Uint8Array,
  request: { method: string; path: string },
  action: string,
): Promise<{ ok: true; signer: Hex; kind: SignedUpload["kind"] } | Rejection> {
  const signed = await verifySignedRequest(ctx, headers, request, action);
  if (!signed.ok) return signed;
  if (await sha256Hex(body) !== signed.upload.bodySha256) {
    const why = "the body is not the one signed (x-artha-content-sha256)";
    return reject(401, "SIGNATURE_INVALID", `Cannot ${action}: ${why}`);
  }
  return { ok: true, signer: signed.upload.signer, kind: signed.upload.kind };
}

/**
 * The signer (lower case) of a signed GET of `/svdb/<cid>`: fresh, and bound to one of this
 * coordinator's public origins when it has any (a read signed for another server is refused).
 * `hint` says whose signature the file takes, appended to a missing or bad signature's message.
 */
export async function verifySignedRead(
  ctx: Context,
  headers: Headers,
  cid: string,
  hint: string,
): Promise<{ ok: true; signer: string } | Rejection> {
  const origin = headers.get(SIGNED_ORIGIN_HEADER)?.trim() || undefined;
  const ours = ctx.config.publicOrigins;
  if (ours.length > 0 && !(origin && ours.includes(origin))) {
    const said = origin ? `for ${origin}` : "for no origin";
    return reject(
      401,
      "WRONG_ORIGIN",
      `Cannot read: the read was signed ${said}, this coordinator is ${ours.join(", ")}`,
    );
  }
  const path = signedReadPath(cid, origin);
  const signed = await verifySignedRequest(ctx, headers, { method: "GET", path }, "read");
  if (!signed.ok) return { ...signed, message: `${signed.message}; ${hint}` };
  return { ok: true, signer: signed.upload.signer.toLowerCase() };
}
