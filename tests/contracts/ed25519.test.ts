/**
 * contracts/libraries/Ed25519.sol (and the Sha512.sol it hashes with) against RFC 8032 and
 * @noble/ed25519: a tiny harness contract is compiled in memory with the repo's solc settings and
 * deployed to anvil; every check is an eth_call, so a revert would fail the test.
 *
 *   deno test -A tests/contracts/ed25519.test.ts
 */
import assert from "node:assert/strict";
import solc from "solc";
import { type Abi, bytesToHex, type Hex, hexToBytes } from "viem";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { createArthaClient } from "../../lib/chain/client.ts";
import { generateNodeKey, signBytes } from "../../lib/crypto/keys.ts";
import { EVM_VERSION } from "../../scripts/build_contracts.ts";

/** Upper bound on the gas of one verification of a 32-byte message. */
const MAX_GAS_32_BYTE_MESSAGE = 200_000n;
/** Random keys signed with lib/crypto/keys.ts; every fourth message is 32 bytes long. */
const RANDOM_KEYS = 32;
/** The group order L (RFC 8032 section 5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const HARNESS = `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ed25519} from "./libraries/Ed25519.sol";
import {Sha512} from "./libraries/Sha512.sol";

contract Ed25519Harness {
    function verify(bytes32 publicKey, bytes32 r, bytes32 s, bytes calldata message)
        external
        view
        returns (bool ok, uint256 gasUsed)
    {
        bytes memory m = message;
        uint256 start = gasleft();
        ok = Ed25519.verify(publicKey, r, s, m);
        gasUsed = start - gasleft();
    }

    function sha512(bytes calldata data) external pure returns (bytes32 high, bytes32 low) {
        return Sha512.hash(data);
    }
}
`;

/** RFC 8032 section 7.1: TEST 1, 2, 3 and TEST 1024 (its 1023-byte message is in the file). */
const RFC8032 = [
  {
    name: "TEST 1",
    secretKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    secretKey: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    secretKey: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac" +
      "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
  {
    name: "TEST 1024",
    secretKey: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    publicKey: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    message: [
      "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1",
      "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
      "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a",
      "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
      "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10",
      "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
      "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d",
      "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
      "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b",
      "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
      "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b",
      "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
      "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d",
      "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
      "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7",
      "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
      "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09",
      "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
      "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161",
      "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
      "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca",
      "c60c905c15fc910840b94c00a0b9d0",
    ].join(""),
    signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350" +
      "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
  },
];

/** The canonical encodings of the eight points of small order: anyone can "sign" for them. */
const SMALL_ORDER_KEYS: Hex[] = [
  "0x0100000000000000000000000000000000000000000000000000000000000000",
  "0xecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0x0000000000000000000000000000000000000000000000000000000000000000",
  "0x0000000000000000000000000000000000000000000000000000000000000080",
  "0x26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "0x26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  "0xc7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "0xc7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

/** Compiles the harness with the settings of scripts/build_contracts.ts. */
function compileHarness(): { abi: Abi; bytecode: Hex } {
  const library = (name: string) => ({
    content: Deno.readTextFileSync(new URL(`../../contracts/libraries/${name}`, import.meta.url)),
  });
  const input = {
    language: "Solidity",
    sources: {
      "Ed25519Harness.sol": { content: HARNESS },
      "libraries/Ed25519.sol": library("Ed25519.sol"),
      "libraries/Sha512.sol": library("Sha512.sol"),
    },
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      viaIR: true,
      metadata: { bytecodeHash: "none" },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === "error");
  assert.deepEqual(errors.map((e: { formattedMessage: string }) => e.formattedMessage), []);
  const c = output.contracts["Ed25519Harness.sol"].Ed25519Harness;
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}

/** 32 bytes of `bytes` from `offset` as hex. */
function word(bytes: Uint8Array, offset: number): Hex {
  return bytesToHex(bytes.slice(offset, offset + 32));
}

/** A copy of `bytes` with bit `bit` flipped. */
function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** A 32-byte little-endian integer as hex. */
function littleEndian(value: bigint): Hex {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return bytesToHex(out);
}

/** A 32-byte hex read as a little-endian integer. */
function fromLittleEndian(hex: Hex): bigint {
  return hexToBytes(hex).reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

Deno.test("Ed25519.verify", async (t) => {
  ed.hashes.sha512 = sha512;
  const { abi, bytecode } = compileHarness();
  await using net = await startDevnet({ accounts: 1 });
  const client = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[0]!,
  });
  const hash = await client.deployContract({ abi, bytecode, args: [] });
  const { contractAddress: address } = await client.waitForTransactionReceipt({ hash });
  assert.ok(address);

  /** Calls the harness; a revert rejects the promise and fails the test. */
  const verify = async (publicKey: Hex, signature: Uint8Array, message: Uint8Array) => {
    const [ok, gas] = await client.readContract({
      address,
      abi,
      functionName: "verify",
      args: [publicKey, word(signature, 0), word(signature, 32), bytesToHex(message)],
    }) as [boolean, bigint];
    return { ok, gas };
  };

  await t.step("Sha512.hash matches @noble/hashes across the padding boundaries", async () => {
    for (const length of [0, 1, 3, 64, 111, 112, 127, 128, 129, 239, 240, 256, 1023]) {
      const data = crypto.getRandomValues(new Uint8Array(length));
      const [high, low] = await client.readContract({
        address,
        abi,
        functionName: "sha512",
        args: [bytesToHex(data)],
      }) as [Hex, Hex];
      assert.equal(high + low.slice(2), bytesToHex(sha512(data)), `length ${length}`);
    }
  });

  await t.step("accepts the RFC 8032 section 7.1 test vectors", async () => {
    for (const v of RFC8032) {
      const signature = hexToBytes(`0x${v.signature}`);
      const message = hexToBytes(`0x${v.message}`);
      // The transcription is checked against the reference signer first.
      assert.equal(
        bytesToHex(ed.sign(message, hexToBytes(`0x${v.secretKey}`))).slice(2),
        v.signature,
      );
      const { ok, gas } = await verify(`0x${v.publicKey}`, signature, message);
      assert.ok(ok, v.name);
      console.log(`${v.name} (${message.length}-byte message): ${gas} gas`);
    }
  });

  await t.step(`accepts ${RANDOM_KEYS} random keys signing with lib/crypto/keys.ts`, async () => {
    const results = await Promise.all(Array.from({ length: RANDOM_KEYS }, async (_, i) => {
      const key = generateNodeKey();
      const length = i % 4 === 0 ? 32 : (i * 37) % 300;
      const message = crypto.getRandomValues(new Uint8Array(length));
      const signature = hexToBytes(signBytes(key, message));
      return { length, ...await verify(key.publicKeyHex, signature, message) };
    }));
    assert.deepEqual(results.filter((r) => !r.ok), []);
    const gas32 = results.filter((r) => r.length === 32).map((r) => r.gas);
    const maxGas = gas32.reduce((a, b) => (a > b ? a : b));
    console.log(`verify, 32-byte message: max ${maxGas} gas over ${gas32.length} signatures`);
    assert.ok(maxGas <= MAX_GAS_32_BYTE_MESSAGE, `${maxGas} gas > ${MAX_GAS_32_BYTE_MESSAGE}`);
  });

  await t.step(
    "rejects tampered, malleated and malformed signatures without reverting",
    async () => {
      const key = generateNodeKey();
      const message = crypto.getRandomValues(new Uint8Array(32));
      const signature = hexToBytes(signBytes(key, message));
      const pub = key.publicKey;
      assert.ok((await verify(key.publicKeyHex, signature, message)).ok);

      const s = fromLittleEndian(word(signature, 32));
      const malleated = hexToBytes(`${word(signature, 0)}${littleEndian(s + L).slice(2)}`);
      let notOnCurve = 2n;
      while (isPoint(littleEndian(notOnCurve))) notOnCurve++;
      const zeros = new Uint8Array(64);

      const cases: [string, Hex, Uint8Array, Uint8Array][] = [
        ["message bit 0 flipped", key.publicKeyHex, signature, flipBit(message, 0)],
        ["message bit 255 flipped", key.publicKeyHex, signature, flipBit(message, 255)],
        [
          "message extended by a byte",
          key.publicKeyHex,
          signature,
          new Uint8Array([...message, 0]),
        ],
        ["R bit 0 flipped", key.publicKeyHex, flipBit(signature, 0), message],
        ["R sign bit flipped", key.publicKeyHex, flipBit(signature, 255), message],
        ["S bit 0 flipped", key.publicKeyHex, flipBit(signature, 256), message],
        ["S bit 252 flipped (S >= L)", key.publicKeyHex, flipBit(signature, 256 + 252), message],
        ["S replaced by S + L", key.publicKeyHex, malleated, message],
        ["public key bit 0 flipped", bytesToHex(flipBit(pub, 0)), signature, message],
        ["public key sign bit flipped", bytesToHex(flipBit(pub, 255)), signature, message],
        ["public key not on the curve", littleEndian(notOnCurve), signature, message],
        ["public key y >= p (y = p + 1)", littleEndian(2n ** 255n - 18n), signature, message],
        ["all-zero key, signature and message", littleEndian(0n), zeros, new Uint8Array(32)],
        ["all-zero key, signature and empty message", littleEndian(0n), zeros, new Uint8Array()],
        ["random signature", key.publicKeyHex, crypto.getRandomValues(new Uint8Array(64)), message],
        ["all-ones signature", key.publicKeyHex, new Uint8Array(64).fill(0xff), message],
      ];
      for (const [name, publicKey, sig, msg] of cases) {
        assert.equal((await verify(publicKey, sig, msg)).ok, false, name);
      }
    },
  );

  await t.step("rejects every small-order public key, though anyone can sign for it", async () => {
    const message = crypto.getRandomValues(new Uint8Array(32));
    for (const publicKey of SMALL_ORDER_KEYS) {
      assert.ok(ed.Point.fromHex(publicKey.slice(2)).isSmallOrder(), publicKey);
      // S = 0 and R any small-order point: a ZIP-215 verifier (noble's default) accepts all of
      // them, and one of them satisfies the cofactorless equation R == [k](-A) too.
      for (const r of SMALL_ORDER_KEYS) {
        const sig = hexToBytes(`${r}${"00".repeat(32)}`);
        assert.ok(ed.verify(sig, message, hexToBytes(publicKey)), `noble ${publicKey} ${r}`);
        assert.equal((await verify(publicKey, sig, message)).ok, false, `${publicKey} ${r}`);
      }
    }
  });
});

/** Whether the 32-byte little-endian `hex` decodes to a curve point (noble, strict RFC 8032). */
function isPoint(hex: Hex): boolean {
  try {
    ed.Point.fromBytes(hexToBytes(hex), false);
    return true;
  } catch {
    return false;
  }
}
