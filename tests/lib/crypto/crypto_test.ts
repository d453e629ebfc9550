import assert from "node:assert/strict";
import { DecryptionError, openSealed, randomKey, seal } from "../../../lib/crypto/aead.ts";
import {
  encKeyFromSecret,
  generateEncKey,
  KeyFileError,
  loadEncKey,
  loadOrCreateEncKey,
} from "../../../lib/crypto/enc_key.ts";
import { unwrapKey, wrapKey } from "../../../lib/crypto/key_wrap.ts";
import { decryptDataset, encryptDataset } from "../../../lib/crypto/dataset_cipher.ts";
import { bytesToHex, concatBytes, hexToBytes } from "../../../lib/crypto/digest.ts";
import { x25519 } from "@noble/curves/ed25519.js";
import { randomBytes } from "../_helpers.ts";

const isDecryptionError = (e: unknown) =>
  e instanceof DecryptionError && e.code === "DECRYPT_FAILED";

Deno.test("X25519 keys match RFC 7748 and WebCrypto agrees on the shared secret", async () => {
  // Prepare
  const alice = encKeyFromSecret(
    hexToBytes("0x77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
  );
  const bob = encKeyFromSecret(
    hexToBytes("0x5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
  );
  const pkcs8 = concatBytes(hexToBytes("0x302e020100300506032b656e04220420"), alice.secretKey);
  const webAlice = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, [
    "deriveBits",
  ]);
  const webBob = await crypto.subtle.importKey("raw", bob.publicKey, { name: "X25519" }, true, []);
  // Execute
  const shared = x25519.getSharedSecret(alice.secretKey, bob.publicKey);
  const webShared = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: webBob }, webAlice, 256),
  );
  // Assert
  assert.equal(
    alice.publicKeyHex,
    "0x8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  assert.equal(
    bob.publicKeyHex,
    "0xde9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  assert.equal(
    bytesToHex(shared),
    "0x4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
  );
  assert.deepEqual(webShared, shared);
});

Deno.test("seal/openSealed round-trip and reject wrong key, aad, tampering, truncation", () => {
  // Prepare
  const key = randomKey();
  const aad = new TextEncoder().encode("dataset-1");
  const plain = randomBytes(1000, 2);
  // Execute
  const sealed = seal(key, plain, aad);
  const flipped = sealed.slice();
  flipped[40]! ^= 1;
  // Assert
  assert.deepEqual(openSealed(key, sealed, aad), plain);
  assert.throws(() => openSealed(randomKey(), sealed, aad), isDecryptionError);
  assert.throws(() => openSealed(key, sealed), isDecryptionError);
  assert.throws(() => openSealed(key, flipped, aad), isDecryptionError);
  assert.throws(
    () => openSealed(key, sealed.subarray(0, sealed.length - 1), aad),
    isDecryptionError,
  );
  assert.throws(() => openSealed(key, sealed.subarray(0, 10), aad), isDecryptionError);
  assert.throws(() => seal(new Uint8Array(16), plain), TypeError);
});

Deno.test("wrapKey: the grantee unwraps; another key, context or tampering fails", () => {
  // Prepare
  const grantee = generateEncKey();
  const stranger = generateEncKey();
  const dataKey = randomKey();
  const context = new TextEncoder().encode("dataset:1|grantee:abc");
  // Execute
  const wrapped = wrapKey(dataKey, grantee.publicKey, { context });
  const again = wrapKey(dataKey, grantee.publicKey, { context });
  const tampered = wrapped.slice();
  tampered[wrapped.length - 1]! ^= 1;
  const badEpk = wrapped.slice();
  badEpk[5]! ^= 1;
  // Assert
  assert.equal(wrapped.length, 1 + 32 + 24 + 32 + 16);
  assert.notDeepEqual(wrapped, again, "fresh ephemeral key each time");
  assert.deepEqual(unwrapKey(wrapped, grantee.secretKey, { context }), dataKey);
  assert.throws(() => unwrapKey(wrapped, stranger.secretKey, { context }), isDecryptionError);
  assert.throws(() => unwrapKey(wrapped, grantee.secretKey), isDecryptionError);
  assert.throws(() => unwrapKey(tampered, grantee.secretKey, { context }), isDecryptionError);
  assert.throws(() => unwrapKey(badEpk, grantee.secretKey, { context }), isDecryptionError);
  assert.throws(() => unwrapKey(wrapped.subarray(0, 40), grantee.secretKey), isDecryptionError);
  assert.throws(() => wrapKey(dataKey, new Uint8Array(32)), TypeError); // low-order point
});

Deno.test("encryptDataset round-trips sizes around segment boundaries", () => {
  const key = randomKey();
  for (const size of [0, 1, 63, 64, 65, 64 * 5, 64 * 5 + 3]) {
    // Prepare
    const plain = randomBytes(size, size + 7);
    // Execute
    const sealed = encryptDataset(plain, key, { segmentSize: 64 });
    // Assert
    assert.deepEqual(decryptDataset(sealed, key), plain, `size ${size}`);
    assert.equal(sealed.length, 29 + size + 16 * Math.max(1, Math.ceil(size / 64)));
  }
  const big = randomBytes(3 * 1024 * 1024 + 5, 3);
  assert.deepEqual(decryptDataset(encryptDataset(big, key), key), big);
});

Deno.test("decryptDataset detects wrong keys, tampering, truncation and reordering", () => {
  // Prepare
  const key = randomKey();
  const plain = randomBytes(64 * 4, 9); // 4 full segments, each 80 bytes sealed
  const sealed = encryptDataset(plain, key, { segmentSize: 64 });
  const seg = (i: number) => sealed.subarray(29 + i * 80, 29 + (i + 1) * 80);
  const flipBody = sealed.slice();
  flipBody[29 + 100]! ^= 1;
  const flipHeader = sealed.slice();
  flipHeader[20]! ^= 1;
  const swapped = concatBytes(sealed.subarray(0, 29), seg(1), seg(0), seg(2), seg(3));
  const cut = sealed.subarray(0, 29 + 3 * 80); // drop the last segment exactly
  // Execute / Assert
  assert.throws(() => decryptDataset(sealed, randomKey()), isDecryptionError);
  assert.throws(() => decryptDataset(flipBody, key), isDecryptionError);
  assert.throws(() => decryptDataset(flipHeader, key), isDecryptionError);
  assert.throws(() => decryptDataset(swapped, key), isDecryptionError);
  assert.throws(() => decryptDataset(cut, key), isDecryptionError);
  assert.throws(
    () => decryptDataset(sealed.subarray(0, sealed.length - 3), key),
    isDecryptionError,
  );
  assert.throws(
    () =>
      decryptDataset(new TextEncoder().encode("plain text file..........................."), key),
    isDecryptionError,
  );
});

Deno.test("loadOrCreateEncKey persists one X25519 key with mode 0600", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  const path = `${dir}/enc/enc.key`;
  try {
    // Execute
    const [a, b] = await Promise.all([loadOrCreateEncKey(path), loadOrCreateEncKey(path)]);
    const c = await loadEncKey(path);
    // Assert
    assert.equal(a.publicKeyHex, b.publicKeyHex);
    assert.deepEqual(c.secretKey, a.secretKey);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await Deno.chmod(path, 0o640);
    await assert.rejects(loadEncKey(path), KeyFileError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
