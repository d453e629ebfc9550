/**
 * Secret key files shared by the Ed25519 node key and the X25519 encryption key: JSON with
 * a version, the algorithm, both keys as hex; mode 0600; written crash-safely; refused when
 * readable by others (like ssh) or when the public key does not match the secret.
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes } from "./digest.ts";
import { writeFileAtomic } from "../store/atomic.ts";

/** Key file format version. */
export const KEY_FILE_VERSION = 1;

/** Thrown when a key file exists but cannot be used. */
export class KeyFileError extends Error {
  /** Stable error code. */
  readonly code = "KEY_FILE_INVALID";
  /** Path of the offending file. */
  readonly path: string;
  /** @param path key file path @param message what is wrong and how to fix it */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyFileError";
    this.path = path;
  }
}

/** What a key file stores. */
export interface SecretKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKeyHex: Hex;
}

/** Writes `key` to `path` (mode 0600, temp file + rename, or link when `exclusive`). */
export async function saveKeyFile(
  path: string,
  algorithm: string,
  key: SecretKeyPair,
  options: { exclusive?: boolean } = {},
): Promise<void> {
  const body = {
    version: KEY_FILE_VERSION,
    algorithm,
    publicKey: key.publicKeyHex,
    secretKey: bytesToHex(key.secretKey),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(body, null, 2) + "\n");
  await writeFileAtomic(path, bytes, { mode: 0o600, exclusive: options.exclusive });
}

/** Reads and checks a key file. @throws {KeyFileError} @throws {Deno.errors.NotFound} */
export async function loadKeyFile<K extends SecretKeyPair>(
  path: string,
  algorithm: string,
  fromSecret: (secret: Uint8Array) => K,
): Promise<K> {
  const what = `Cannot load ${algorithm} key`;
  const info = await Deno.stat(path);
  if (Deno.build.os !== "windows" && info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new KeyFileError(
      path,
      `${what}: ${path} has mode ${mode}, readable by others; run chmod 600 ${path}`,
    );
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(await Deno.readTextFile(path));
  } catch (cause) {
    throw new KeyFileError(path, `${what}: ${path} is not JSON; delete it to make a new key`, {
      cause,
    });
  }
  if (body.version !== KEY_FILE_VERSION || body.algorithm !== algorithm) {
    throw new KeyFileError(
      path,
      `${what}: ${path} is not a version ${KEY_FILE_VERSION} ${algorithm} key file`,
    );
  }
  const secret = body.secretKey;
  if (typeof secret !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(secret)) {
    throw new KeyFileError(path, `${what}: ${path} has no 32-byte secretKey`);
  }
  const key = fromSecret(hexToBytes(secret));
  if (typeof body.publicKey === "string" && body.publicKey.toLowerCase() !== key.publicKeyHex) {
    throw new KeyFileError(
      path,
      `${what}: ${path} publicKey does not match its secretKey (file edited?)`,
    );
  }
  return key;
}

/**
 * Loads the key at `path`, or creates it. Two processes racing both end with the same key:
 * the file is published with a hard link, which fails for the loser, who loads the winner's.
 */
export async function loadOrCreateKeyFile<K extends SecretKeyPair>(
  path: string,
  algorithm: string,
  fromSecret: (secret: Uint8Array) => K,
  generate: () => K,
): Promise<K> {
  try {
    return await loadKeyFile(path, algorithm, fromSecret);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
  try {
    await saveKeyFile(path, algorithm, generate(), { exclusive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // lost the race: load theirs
  }
  return await loadKeyFile(path, algorithm, fromSecret);
}
