/**
 * The client side of SecAgg+ (Bonawitz et al. 2017 on the neighbour graph of Bell et al.
 * 2020): one method per round, each taking the server's request and returning the message to
 * send back. All secrets stay inside the instance.
 *
 * - {@link SecAggClient.advertiseKeys}: fresh X25519 pairs (c for share encryption, s for
 *   masks) and a fresh self-mask seed b; sends both public keys, signed.
 * - {@link SecAggClient.shareKeys}: checks the neighbours' keys and signatures, Shamir-splits b
 *   and s^SK (threshold t) over them and seals one share pair to each neighbour.
 * - {@link SecAggClient.maskInput}: opens the shares addressed to it (AEAD), then sends
 *   y = encode(clip(x) + noise) + PRG(b) + sum over neighbours v that shared of +-PRG(s_uv).
 * - {@link SecAggClient.consistencyCheck} (optional round): signs the survivor set.
 * - {@link SecAggClient.unmask}: reveals, per neighbour, the share of b (if the neighbour
 *   survived) or of s^SK (if it dropped), never both, and refuses any request that would
 *   make it reveal both for one neighbour, now or across requests.
 *
 * @module
 */
import { bytesToHex, type Hex, hexToBytes } from "../../crypto/digest.ts";
import { DecryptionError, openSealed, seal } from "../../crypto/aead.ts";
import { encodeFixedPoint } from "./fixed_point.ts";
import { addMask, subtractMask } from "./prg.ts";
import { secureGaussian } from "./noise.ts";
import { splitBytes } from "./shamir.ts";
import { resolveParams, type SecAggConfig, type SecAggParams } from "./params.ts";
import { checkConsistency, checkSurvivorSet, planReveal, type ShareKind } from "./_refusal.ts";
import { type KeyPair, keyPairFromSecret, pairMaskSeed, shareKey } from "./_keys.ts";
import {
  advertisePayload,
  consistencyPayload,
  decodeSharePlaintext,
  encodeSharePlaintext,
  hexOfLength,
  selfMaskCommit,
  SHARE_CIPHERTEXT_BYTES,
  shareAad,
  shareDigest,
} from "./_wire.ts";
import {
  InvalidShareError,
  ProtocolError,
  TooFewSurvivorsError,
  UnmaskRefusedError,
} from "./errors.ts";
import {
  type AdvertiseKeys,
  bitmapIds,
  type ClientMessage,
  type ConsistencyRequest,
  type ConsistencySignature,
  type EncryptedShare,
  type MaskedInput,
  type MaskedInputRequest,
  type ServerRequest,
  type ShareKeys,
  type ShareKeysRequest,
  type SignFn,
  type UnmaskRequest,
  type UnmaskResponse,
  type VerifyFn,
} from "./messages.ts";

/** Options of {@link SecAggClient.create}. */
export interface SecAggClientOptions {
  /** Signs with the node's long-term identity; needed when the server verifies. */
  sign?: SignFn;
  /** Checks other clients' signatures; without it the client trusts the server's relay. */
  verify?: VerifyFn;
  /**
   * Source of secret randomness (default `crypto.getRandomValues`). Only tests pass one: draws
   * are c^SK (32 bytes), s^SK (32), b (32), then Shamir coefficients. DP noise always comes
   * from the OS CSPRNG.
   */
  randomBytes?: (length: number) => Uint8Array;
}

type Stage = "new" | "advertised" | "shared" | "masked" | "checked" | "unmasking";

interface Peer {
  sPk: Uint8Array;
  channel: Uint8Array;
}

/**
 * One client's state for one round.
 *
 * @example
 * ```ts
 * import { SecAggClient } from "./client.ts";
 * import { SecAggServer } from "./server.ts";
 * const config = {
 *   context: "doc:round-0",
 *   seed: `0x${"11".repeat(32)}` as const,
 *   clients: ["a", "b", "c"],
 *   vectorLength: 2,
 *   clip: 1,
 * };
 * const server = new SecAggServer(config);
 * const clients = await Promise.all(config.clients.map((id) => SecAggClient.create(config, id)));
 * for (const c of clients) await server.receive(await c.advertiseKeys());
 * let requests = server.closeStage();
 * for (const c of clients) await server.receive(await c.respond(requests.get(c.id)!));
 * requests = server.closeStage();
 * const update = new Float32Array([0.25, -0.5]);
 * for (const c of clients) await server.receive(await c.respond(requests.get(c.id)!, update));
 * requests = server.closeStage();
 * for (const c of clients) await server.receive(await c.respond(requests.get(c.id)!));
 * const { sum, included } = await server.finish();
 * console.assert(included.length === 3 && sum[0] === 0.75 && sum[1] === -1.5);
 * ```
 */
export class SecAggClient {
  /** This client's roster id. */
  readonly id: string;
  /** The round's resolved parameters. */
  readonly params: SecAggParams;
  #options: SecAggClientOptions;
  #stage: Stage = "new";
  #c: KeyPair;
  #s: KeyPair | undefined;
  #b: Uint8Array | undefined;
  #neighbours: ReadonlySet<string>;
  #peers = new Map<string, Peer>();
  #held = new Map<string, { bShare: Uint8Array; skShare: Uint8Array }>();
  #revealed = new Map<string, ShareKind>();
  #signedSurvivors: string | undefined;

  private constructor(
    params: SecAggParams,
    id: string,
    options: SecAggClientOptions,
    keys: { c: KeyPair; s: KeyPair; b: Uint8Array },
  ) {
    this.params = params;
    this.id = id;
    this.#options = options;
    this.#c = keys.c;
    this.#s = keys.s;
    this.#b = keys.b;
    this.#neighbours = new Set(params.neighbours.get(id));
  }

  /**
   * A client for `id` in the round `config` (or its resolved params), with fresh keys.
   *
   * @throws {RangeError} when `id` is not in the roster
   * @throws {TypeError} when the round runs ConsistencyCheck without `sign` and `verify`
   */
  static async create(
    config: SecAggConfig | SecAggParams,
    id: string,
    options: SecAggClientOptions = {},
  ): Promise<SecAggClient> {
    const params = resolveParams(config);
    if (!params.index.has(id)) throw new RangeError(`Cannot join round: ${id} is not in roster`);
    if (params.consistencyCheck && !(options.sign && options.verify)) {
      throw new TypeError("Cannot join round: ConsistencyCheck needs sign and verify");
    }
    const random = options.randomBytes ??
      ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
    const draw = (n: number) => {
      const bytes = random(n).slice(0, n);
      if (bytes.length !== n) throw new RangeError("Cannot join round: randomness too short");
      return bytes;
    };
    const c = await keyPairFromSecret(draw(32));
    const s = await keyPairFromSecret(draw(32));
    return new SecAggClient(params, id, options, { c, s, b: draw(32) });
  }

  /** Round 0: the two public keys, signed with the long-term identity if `sign` was given. */
  async advertiseKeys(): Promise<AdvertiseKeys> {
    this.#advance("new", "advertised", "AdvertiseKeys");
    const { context } = this.params;
    const msg: AdvertiseKeys = {
      stage: "AdvertiseKeys",
      id: this.id,
      cPk: bytesToHex(this.#c.publicKey),
      sPk: bytesToHex(this.#s!.publicKey),
    };
    if (this.#options.sign) {
      const payload = advertisePayload(context, this.id, this.#c.publicKey, this.#s!.publicKey);
      msg.signature = await this.#options.sign(payload);
    }
    return msg;
  }

  /**
   * Round 1: checks the neighbours' keys, then seals a share of b and of s^SK to each.
   *
   * @throws {ProtocolError} on keys of a non-neighbour, a repeat, a bad signature or key
   * @throws {TooFewSurvivorsError} with fewer than t neighbours
   */
  async shareKeys(request: ShareKeysRequest): Promise<ShareKeys> {
    this.#advance("advertised", "shared", "ShareKeys");
    for (const keys of request.keys) await this.#acceptKeys(keys);
    const holders = [...this.#peers.keys()];
    const { threshold, index, context } = this.params;
    this.#needNeighbours(holders.length, "ShareKeys");
    const split = {
      threshold,
      at: holders.map((v) => index.get(v)! + 1),
      randomBytes: this.#options.randomBytes,
    };
    const bShares = splitBytes(this.#b!, split);
    const skShares = splitBytes(this.#s!.secret, split);
    const shares = holders.map((to, i) => {
      const plain = encodeSharePlaintext(bShares[i]!, skShares[i]!);
      const sealed = seal(this.#peers.get(to)!.channel, plain, shareAad(context, this.id, to));
      return {
        from: this.id,
        to,
        ciphertext: bytesToHex(sealed),
        bDigest: shareDigest(context, this.id, to, "b", bShares[i]!),
        skDigest: shareDigest(context, this.id, to, "sk", skShares[i]!),
      };
    });
    const bCommit = selfMaskCommit(context, this.id, this.#b!);
    return { stage: "ShareKeys", id: this.id, shares, bCommit };
  }

  /**
   * Round 2: opens the shares sent to this client and returns the masked, encoded `update`.
   *
   * @throws {InvalidShareError} on a ciphertext that fails authentication
   * @throws {ProtocolError} on a share from a non-neighbour or a repeated sender
   * @throws {TooFewSurvivorsError} with shares from fewer than t neighbours
   * @throws {RangeError} on an update of the wrong length or with non-finite values
   */
  async maskInput(
    request: MaskedInputRequest,
    update: Float32Array | Float64Array,
  ): Promise<MaskedInput> {
    const { vectorLength, scale, clip, clientNoiseStd, index, context } = this.params;
    if (update.length !== vectorLength) {
      throw new RangeError(`Cannot mask input: ${update.length} values, round has ${vectorLength}`);
    }
    // Encoding first: a non-finite update is refused before the round moves on.
    const noise = clientNoiseStd > 0 ? secureGaussian(vectorLength, clientNoiseStd) : undefined;
    const masked = encodeFixedPoint(update, { scale, clip, noise });
    this.#advance("shared", "masked", "MaskedInputCollection");
    for (const share of request.shares) this.#openShare(share);
    this.#needNeighbours(this.#held.size, "MaskedInputCollection");
    await addMask(masked, this.#b!);
    const me = index.get(this.id)!;
    for (const v of this.#held.keys()) {
      const pair = { peerPublicKey: this.#peers.get(v)!.sPk, context, ids: [this.id, v] } as const;
      const seed = await pairMaskSeed(this.#s!.privateKey, pair);
      // The roster's earlier member adds the pair's mask, the later one subtracts it.
      await (me < index.get(v)! ? addMask : subtractMask)(masked, seed);
    }
    // Neighbours hold the shares now; this client never needs b or s^SK again.
    this.#b = undefined;
    this.#s = undefined;
    return { stage: "MaskedInputCollection", id: this.id, masked };
  }

  /**
   * Optional round 3: signs the survivor set, after checking it includes this client and is
   * large enough. Later Unmasking requests must name exactly this set.
   *
   * @throws {UnmaskRefusedError} when the set leaves this client out or is too small
   */
  async consistencyCheck(request: ConsistencyRequest): Promise<ConsistencySignature> {
    this.#advance("masked", "checked", "ConsistencyCheck");
    const survivors = this.#ids(request.survivors, "ConsistencyCheck");
    checkSurvivorSet(this.id, new Set(survivors), new Set(), this.params.minSurvivors);
    const payload = consistencyPayload(this.params.context, hexToBytes(request.survivors));
    this.#signedSurvivors = request.survivors.toLowerCase();
    return {
      stage: "ConsistencyCheck",
      id: this.id,
      signature: await this.#options.sign!(payload),
    };
  }

  /**
   * Round 4: the share of b for each surviving neighbour and of s^SK for each dropped one.
   * May be asked again (a retry) but only ever for the same kind per neighbour.
   *
   * @throws {UnmaskRefusedError} on a request an honest server never sends
   */
  async unmask(request: UnmaskRequest): Promise<UnmaskResponse> {
    if (!["masked", "checked", "unmasking"].includes(this.#stage)) {
      throw new ProtocolError("Unmasking", `client is at ${this.#stage}`);
    }
    if (this.params.consistencyCheck && this.#stage === "masked") {
      throw new UnmaskRefusedError({ reason: "consistency" });
    }
    const alive = new Set(this.#ids(request.survivors, "Unmasking"));
    const gone = new Set(this.#ids(request.dropped, "Unmasking"));
    const { context, minSurvivors, consistencyCheck } = this.params;
    checkSurvivorSet(this.id, alive, gone, minSurvivors);
    if (consistencyCheck) {
      const payload = consistencyPayload(context, hexToBytes(request.survivors));
      const signed = { survivors: this.#signedSurvivors, payload, minSurvivors };
      await checkConsistency(signed, request, alive, this.#options.verify!);
    }
    const plan = planReveal(this.#held.keys(), alive, gone, this.#revealed);
    for (const [v, kind] of plan) this.#revealed.set(v, kind);
    this.#stage = "unmasking";
    const reveal = (kind: ShareKind) =>
      plan.filter(([, k]) => k === kind).map(([v]) => {
        const held = this.#held.get(v)!;
        return { of: v, share: bytesToHex(kind === "self-mask" ? held.bShare : held.skShare) };
      });
    return {
      stage: "Unmasking",
      id: this.id,
      selfMaskShares: reveal("self-mask"),
      maskKeyShares: reveal("mask-key"),
    };
  }

  /** Answers any server request by its stage (`update` is needed for MaskedInputCollection). */
  async respond(
    request: ServerRequest,
    update?: Float32Array | Float64Array,
  ): Promise<ClientMessage> {
    switch (request.stage) {
      case "ShareKeys":
        return await this.shareKeys(request);
      case "MaskedInputCollection":
        if (!update) throw new TypeError("Cannot mask input: no update given");
        return await this.maskInput(request, update);
      case "ConsistencyCheck":
        return await this.consistencyCheck(request);
      case "Unmasking":
        return await this.unmask(request);
    }
  }

  #advance(from: Stage, to: Stage, round: string): void {
    if (this.#stage !== from) throw new ProtocolError(round, `client is at ${this.#stage}`);
    this.#stage = to;
  }

  #needNeighbours(count: number, round: "ShareKeys" | "MaskedInputCollection"): void {
    // Fewer than t neighbours could never rebuild this client's b: its input would be lost.
    if (count < this.params.threshold) {
      throw new TooFewSurvivorsError({
        stage: round,
        survivors: count,
        needed: this.params.threshold,
      });
    }
  }

  async #acceptKeys(keys: AdvertiseKeys): Promise<void> {
    const v = keys.id;
    const fail = (why: string) => new ProtocolError("ShareKeys", `keys of ${v}: ${why}`);
    if (!this.#neighbours.has(v)) throw fail("not a neighbour");
    if (this.#peers.has(v)) throw fail("repeated");
    const cPk = hexOfLength(keys.cPk, 32);
    const sPk = hexOfLength(keys.sPk, 32);
    if (!cPk || !sPk) throw fail("malformed");
    if (bytesToHex(cPk) === bytesToHex(this.#c.publicKey)) throw fail("reuses this client's key");
    const verify = this.#options.verify;
    if (verify) {
      const payload = advertisePayload(this.params.context, v, cPk, sPk);
      if (!keys.signature || !(await verify(v, payload, keys.signature))) {
        throw fail("bad signature");
      }
    }
    const pair = { peerPublicKey: cPk, context: this.params.context, ids: [this.id, v] } as const;
    const channel = await shareKey(this.#c.privateKey, pair)
      .catch(() => {
        throw fail("not a usable X25519 key");
      });
    this.#peers.set(v, { sPk, channel });
  }

  #openShare(share: EncryptedShare): void {
    const peer = this.#peers.get(share.from);
    if (!peer || share.to !== this.id || this.#held.has(share.from)) {
      throw new ProtocolError("MaskedInputCollection", `unexpected share from ${share.from}`);
    }
    const sealed = hexOfLength(share.ciphertext, SHARE_CIPHERTEXT_BYTES);
    const invalid = (reason: string, cause?: unknown) =>
      new InvalidShareError({ client: share.from, reason }, { cause });
    if (!sealed) throw invalid("ciphertext has the wrong length");
    let plain: Uint8Array;
    try {
      plain = openSealed(peer.channel, sealed, shareAad(this.params.context, share.from, this.id));
    } catch (e) {
      if (!(e instanceof DecryptionError)) throw e;
      throw invalid("ciphertext does not authenticate (tampered, replayed or misaddressed)", e);
    }
    const shares = decodeSharePlaintext(plain);
    if (!shares) throw invalid("plaintext has the wrong length");
    // The server checks what this client reveals against these: a share they do not match
    // would have this client's honest answer refused.
    const { context } = this.params;
    if (
      shareDigest(context, share.from, this.id, "b", shares.bShare) !== share.bDigest ||
      shareDigest(context, share.from, this.id, "sk", shares.skShare) !== share.skDigest
    ) throw invalid("the shares do not match the digests their sender committed to");
    this.#held.set(share.from, shares);
  }

  #ids(bitmap: Hex, round: string): string[] {
    try {
      return bitmapIds(bitmap, this.params.clients);
    } catch (e) {
      throw new ProtocolError(round, `malformed client set: ${(e as Error).message}`);
    }
  }
}
