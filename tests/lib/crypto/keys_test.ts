import assert from "node:assert/strict";
import {
  bindingMessage,
  generateNodeKey,
  KeyFileError,
  loadNodeKey,
  loadOrCreateNodeKey,
  nodeKeyFromSecret,
  saveNodeKey,
  signBinding,
  signBytes,
  verifyBinding,
  verifyBytes,
} from "../../../lib/crypto/keys.ts";
import { bytesToHex, concatBytes, hexToBytes } from "../../../lib/crypto/digest.ts";
import { concat, encodeAbiParameters, keccak256, toHex } from "viem";

const PARAMS = {
  chainId: 31337n,
  registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  operator: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  nonce: 3n,
} as const;

Deno.test("signBytes matches the RFC 8032 test vector 1", () => {
  // Prepare
  const key = nodeKeyFromSecret(
    hexToBytes("0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  );
  // Execute
  const sig = signBytes(key, new Uint8Array());
  // Assert
  assert.equal(
    key.publicKeyHex,
    "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
  assert.equal(
    sig,
    "0xe5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
});

Deno.test("noble Ed25519 and WebCrypto Ed25519 agree byte for byte", async () => {
  // Prepare
  const key = generateNodeKey();
  const msg = crypto.getRandomValues(new Uint8Array(1000));
  const pkcs8 = concatBytes(hexToBytes("0x302e020100300506032b657004220420"), key.secretKey);
  const priv = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const pub = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, true, [
    "verify",
  ]);
  // Execute
  const webSig = new Uint8Array(await crypto.subtle.sign("Ed25519", priv, msg));
  const nobleSig = signBytes(key, msg);
  const webAcceptsNoble = await crypto.subtle.verify("Ed25519", pub, hexToBytes(nobleSig), msg);
  // Assert
  assert.equal(bytesToHex(webSig), nobleSig);
  assert.ok(webAcceptsNoble);
  assert.ok(verifyBytes(key.publicKey, msg, webSig));
});

Deno.test("verifyBytes rejects tampered messages, signatures and wrong keys", () => {
  // Prepare
  const key = generateNodeKey();
  const other = generateNodeKey();
  const msg = new TextEncoder().encode("round 7 update");
  const sig = hexToBytes(signBytes(key, msg));
  const badSig = sig.slice();
  badSig[10]! ^= 1;
  // Execute / Assert
  assert.ok(verifyBytes(key.publicKeyHex, msg, sig));
  assert.ok(!verifyBytes(key.publicKeyHex, new TextEncoder().encode("round 8 update"), sig));
  assert.ok(!verifyBytes(key.publicKeyHex, msg, badSig));
  assert.ok(!verifyBytes(other.publicKeyHex, msg, sig));
  assert.ok(!verifyBytes(new Uint8Array(32).fill(0xff), msg, sig));
  assert.throws(() => verifyBytes("0x1234", msg, sig), TypeError);
});

Deno.test("bindingMessage is the EIP-712 NodeBinding digest, computed by hand", () => {
  // Prepare
  const key32 = `0x${"11".repeat(32)}` as const;
  const enc = (types: string[], values: unknown[]) =>
    keccak256(encodeAbiParameters(types.map((type) => ({ type })), values));
  const domainSeparator = enc(
    ["bytes32", "bytes32", "bytes32", "uint256", "address"],
    [
      keccak256(
        toHex("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
      ),
      keccak256(toHex("ArthaTrain")),
      keccak256(toHex("1")),
      PARAMS.chainId,
      PARAMS.registry,
    ],
  );
  const structHash = enc(["bytes32", "address", "bytes32", "uint256"], [
    keccak256(toHex("NodeBinding(address operator,bytes32 nodePubkey,uint256 nonce)")),
    PARAMS.operator,
    key32,
    PARAMS.nonce,
  ]);
  // Execute
  const digest = bindingMessage(PARAMS, key32);
  // Assert
  assert.equal(digest, keccak256(concat(["0x1901", domainSeparator, structHash])));
});

Deno.test("signBinding verifies only for the same chain, registry, operator and nonce", () => {
  // Prepare
  const key = generateNodeKey();
  // Execute
  const sig = signBinding(key, PARAMS);
  // Assert
  assert.ok(verifyBinding(key.publicKeyHex, sig, PARAMS));
  assert.ok(!verifyBinding(key.publicKeyHex, sig, { ...PARAMS, chainId: 1n }));
  assert.ok(!verifyBinding(key.publicKeyHex, sig, { ...PARAMS, nonce: 4n }));
  assert.ok(
    !verifyBinding(key.publicKeyHex, sig, {
      ...PARAMS,
      operator: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    }),
  );
  assert.ok(!verifyBinding(generateNodeKey().publicKeyHex, sig, PARAMS));
  assert.throws(
    () => bindingMessage({ ...PARAMS, registry: "0x1234" }, key.publicKeyHex),
    TypeError,
  );
});

Deno.test("loadOrCreateNodeKey creates a 0600 file once and reloads the same key", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  const path = `${dir}/keys/node.key`;
  try {
    // Execute
    const [a, b] = await Promise.all([loadOrCreateNodeKey(path), loadOrCreateNodeKey(path)]);
    const c = await loadOrCreateNodeKey(path);
    const mode = (await Deno.stat(path)).mode! & 0o777;
    const leftovers = [...Deno.readDirSync(`${dir}/keys`)].map((e) => e.name);
    // Assert
    assert.equal(a.publicKeyHex, b.publicKeyHex);
    assert.equal(a.publicKeyHex, c.publicKeyHex);
    assert.deepEqual(c.secretKey, a.secretKey);
    assert.equal(mode, 0o600);
    assert.deepEqual(leftovers, ["node.key"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadNodeKey refuses world-readable, corrupt and mismatched key files", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  const path = `${dir}/node.key`;
  try {
    const key = generateNodeKey();
    await saveNodeKey(path, key);
    // Execute / Assert
    await Deno.chmod(path, 0o644);
    await assert.rejects(
      loadNodeKey(path),
      (e) => e instanceof KeyFileError && /chmod 600/.test(e.message),
    );
    await Deno.writeTextFile(path, "not json", { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    await assert.rejects(loadNodeKey(path), KeyFileError);
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        version: 1,
        algorithm: "Ed25519",
        secretKey: bytesToHex(key.secretKey),
        publicKey: generateNodeKey().publicKeyHex,
      }),
    );
    await assert.rejects(loadNodeKey(path), /does not match/);
    await assert.rejects(loadNodeKey(`${dir}/missing.key`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
