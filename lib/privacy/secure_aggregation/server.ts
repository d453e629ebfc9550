/**
 * The server side of SecAgg+: collects each round's messages, decides who is still in, and
 * hands every client its request for the next round; at the end it rebuilds the secrets that
 * the Unmasking answers allow and returns the sum of the surviving inputs, nothing else.
 *
 * Use: `receive(message)` for every client message (returns a {@link Receipt}, never throws on
 * client input), `closeStage()` when the stage's deadline passes or everyone answered (returns
 * each remaining client's next request), then `finish()` after Unmasking. The server keeps
 * only the running ring sum of the masked inputs, not the inputs themselves (memory O(L)).
 *
 * The server trusts its transport to authenticate who sends a message (the coordinator's
 * signed requests); the AdvertiseKeys signatures are what lets clients trust each other's keys
 * through the server.
 *
 * @module
 */
import { type Hex, hexToBytes } from "../../crypto/digest.ts";
import { decodeFixedPoint } from "./fixed_point.ts";
import { pruneBelowThreshold } from "./graph.ts";
import { survivingNoiseStd } from "./noise.ts";
import { SHARE_BYTES } from "./shamir.ts";
import { resolveParams, type SecAggConfig, type SecAggParams } from "./params.ts";
import {
  advertisePayload,
  consistencyPayload,
  hexOfLength,
  SHARE_CIPHERTEXT_BYTES,
  shareDigest,
} from "./_wire.ts";
import { addShare, type ShareBook, unmaskSum } from "./_unmask.ts";
import { usablePublicKey } from "./_keys.ts";
import { ProtocolError, type SecAggStage, TooFewSurvivorsError } from "./errors.ts";
import {
  type AdvertiseKeys,
  canonicalMessage,
  type ClientMessage,
  type ConsistencySignature,
  type EncryptedShare,
  type MaskedInput,
  type Receipt,
  type RejectCode,
  rosterBitmap,
  type ServerRequest,
  type ShareKeys,
  type UnmaskResponse,
  type VerifyFn,
} from "./messages.ts";

/** Options of {@link SecAggServer}. */
export interface SecAggServerOptions {
  /** Checks AdvertiseKeys (and ConsistencyCheck) signatures; unsigned keys are refused. */
  verify?: VerifyFn;
}

/** Why a roster member is not in the sum. */
export type ExclusionReason =
  | "no-keys" // never advertised keys
  | "bad-signature" // only sent keys whose signature failed
  | "too-few-neighbours" // fewer than t live neighbours: its input could not be unmasked
  | "no-shares" // advertised keys but never sent its shares
  | "no-masked-input"; // sent shares, then no input (its masks were removed)

/** The outcome of a round. */
export interface SecAggResult {
  /** Sum over `included` of the clipped (and noised) inputs, decoded. */
  sum: Float64Array;
  /** The same sum in the ring (fixed point at `scale`). */
  ringSum: Uint32Array;
  /** Clients whose inputs are in the sum (U3), roster order. */
  included: string[];
  /** Everyone else, with the reason. */
  excluded: Record<string, ExclusionReason>;
  /** Std of the DP noise in the sum: noiseStd * sqrt(included / (minSurvivors - 1)) > noiseStd. */
  noiseStd: number;
  /** Fixed-point scale of `ringSum`. */
  scale: number;
}

type Stage = SecAggStage | "Done" | "Failed";

/**
 * The server's state for one round. See {@link import("./client.ts").SecAggClient} for a whole
 * round with both sides.
 *
 * @example
 * ```ts
 * import { SecAggServer } from "./server.ts";
 * const server = new SecAggServer({
 *   context: "doc:round-1",
 *   seed: `0x${"22".repeat(32)}`,
 *   clients: ["a", "b", "c"],
 *   vectorLength: 4,
 *   clip: 1,
 * });
 * const receipt = await server.receive({ stage: "ShareKeys", id: "a", shares: [], bCommit: `0x${"00".repeat(32)}` });
 * console.assert(!receipt.ok && receipt.code === "WRONG_STAGE");
 * ```
 */
export class SecAggServer {
  /** The round's resolved parameters. */
  readonly params: SecAggParams;
  #verify: VerifyFn | undefined;
  #stage: Stage = "AdvertiseKeys";
  #excluded = new Map<string, ExclusionReason>();
  #badSignature = new Set<string>();
  #keys = new Map<string, AdvertiseKeys>();
  #sPk = new Map<string, Uint8Array>();
  #live = new Set<string>();
  #shares = new Map<string, EncryptedShare[]>();
  #partners = new Map<string, string[]>();
  #sum: Uint32Array;
  #inputs = new Set<string>();
  #dropped: string[] = [];
  #survivors: Hex = "0x";
  #signatures = new Map<string, Hex>();
  #invited = new Set<string>();
  #responded = new Set<string>();
  #selfMaskShares: ShareBook = new Map();
  /** Each client's commitment to its self-mask seed (ShareKeys). */
  #bCommits = new Map<string, Hex>();
  #maskKeyShares: ShareBook = new Map();

  /** @param config the round (or its resolved params) @param options signature check */
  constructor(config: SecAggConfig | SecAggParams, options: SecAggServerOptions = {}) {
    this.params = resolveParams(config);
    if (this.params.consistencyCheck && !options.verify) {
      throw new TypeError("Cannot run ConsistencyCheck: the server needs verify");
    }
    this.#verify = options.verify;
    this.#sum = new Uint32Array(this.params.vectorLength);
  }

  /** The stage now accepting messages ("Done" after finish, "Failed" after an abort). */
  get stage(): Stage {
    return this.#stage;
  }

  /** Roster members out of the round so far, with the reason. */
  get excluded(): ReadonlyMap<string, ExclusionReason> {
    return this.#excluded;
  }

  /**
   * Accepts or refuses one client message of the open stage. Only the fields its stage defines
   * are kept (canonicalMessage): what the server relays to neighbours is never what a sender
   * padded its message with.
   */
  receive(sent: ClientMessage): Promise<Receipt> {
    const message = canonicalMessage(sent);
    if (message?.stage !== this.#stage) {
      return Promise.resolve(reject("WRONG_STAGE", `round is at ${this.#stage}`));
    }
    if (!this.params.index.has(message.id)) {
      return Promise.resolve(reject("UNKNOWN_CLIENT", `${message.id} is not in the roster`));
    }
    switch (message.stage) {
      case "AdvertiseKeys":
        return this.#onAdvertise(message);
      case "ShareKeys":
        return Promise.resolve(this.#onShareKeys(message));
      case "MaskedInputCollection":
        return Promise.resolve(this.#onMaskedInput(message));
      case "ConsistencyCheck":
        return this.#onConsistency(message);
      case "Unmasking":
        return Promise.resolve(this.#onUnmask(message));
    }
  }

  /**
   * Closes the open stage and returns each remaining client's next request.
   *
   * @throws {TooFewSurvivorsError} when fewer than minSurvivors remain (the round is over)
   * @throws {ProtocolError} at Unmasking (call {@link finish}) or after the round ended
   */
  closeStage(): Map<string, ServerRequest> {
    try {
      switch (this.#stage) {
        case "AdvertiseKeys":
          return this.#closeAdvertise();
        case "ShareKeys":
          return this.#closeShareKeys();
        case "MaskedInputCollection":
          return this.#closeMaskedInput();
        case "ConsistencyCheck":
          return this.#unmaskRequests(this.#signers());
        default:
          throw new ProtocolError(this.#stage, "no stage to close (Unmasking ends with finish)");
      }
    } catch (e) {
      if (e instanceof TooFewSurvivorsError) this.#stage = "Failed";
      throw e;
    }
  }

  /**
   * Closes Unmasking: rebuilds the needed secrets, removes the masks, decodes the sum.
   *
   * @throws {import("./errors.ts").TooFewSharesError} when some secret has fewer than t
   *   shares; nothing changed, so more answers may still arrive and `finish` be retried
   * @throws {import("./errors.ts").InvalidShareError} when shares rebuild a wrong secret
   */
  async finish(): Promise<SecAggResult> {
    if (this.#stage !== "Unmasking") {
      throw new ProtocolError(this.#stage, "finish() needs the round at Unmasking");
    }
    const { params } = this;
    const included = params.clients.filter((id) => this.#inputs.has(id));
    const ringSum = await unmaskSum({
      params,
      sum: this.#sum,
      survivors: included,
      dropped: this.#dropped,
      partners: this.#partners,
      sPk: this.#sPk,
      bCommits: this.#bCommits,
      selfMaskShares: this.#selfMaskShares,
      maskKeyShares: this.#maskKeyShares,
    });
    this.#stage = "Done";
    return {
      sum: decodeFixedPoint(ringSum, params.scale),
      ringSum,
      included,
      excluded: Object.fromEntries(this.#excluded),
      noiseStd: survivingNoiseStd(params.noiseStd, {
        minSurvivors: params.minSurvivors,
        survivors: included.length,
      }),
      scale: params.scale,
    };
  }

  async #onAdvertise(msg: AdvertiseKeys): Promise<Receipt> {
    if (this.#keys.has(msg.id)) return reject("DUPLICATE", `keys of ${msg.id} already in`);
    const cPk = hexOfLength(msg.cPk, 32);
    const sPk = hexOfLength(msg.sPk, 32);
    if (!cPk || !sPk) return reject("MALFORMED", "public keys must be 32-byte hex");
    if (this.#verify) {
      const payload = advertisePayload(this.params.context, msg.id, cPk, sPk);
      if (!msg.signature || !(await this.#verify(msg.id, payload, msg.signature))) {
        this.#badSignature.add(msg.id);
        return reject("BAD_SIGNATURE", `signature of ${msg.id} does not verify`);
      }
    }
    // Refused here, not at its neighbours: a key none of them can agree with, relayed, made each
    // of them fail the round, and the one who sent it was never named.
    if (!(await usablePublicKey(cPk)) || !(await usablePublicKey(sPk))) {
      return reject("MALFORMED", "public keys must be usable X25519 keys (not of low order)");
    }
    this.#keys.set(msg.id, msg);
    this.#sPk.set(msg.id, sPk);
    return { ok: true };
  }

  #closeAdvertise(): Map<string, ServerRequest> {
    for (const id of this.params.clients) {
      if (!this.#keys.has(id)) {
        this.#excluded.set(id, this.#badSignature.has(id) ? "bad-signature" : "no-keys");
      }
    }
    this.#live = this.#prune(new Set(this.#keys.keys()), "AdvertiseKeys");
    this.#stage = "ShareKeys";
    return new Map([...this.#live].map((u) => [u, {
      stage: "ShareKeys",
      keys: this.#liveNeighbours(u).map((v) => this.#keys.get(v)!),
    }]));
  }

  #onShareKeys(msg: ShareKeys): Receipt {
    if (!this.#live.has(msg.id)) return reject("NOT_INVITED", `${msg.id} is not in ShareKeys`);
    if (this.#shares.has(msg.id)) return reject("DUPLICATE", `shares of ${msg.id} already in`);
    const expected = new Set(this.#liveNeighbours(msg.id));
    const ok = Array.isArray(msg.shares) && msg.shares.length === expected.size &&
      msg.shares.every((s) =>
        s.from === msg.id && expected.delete(s.to) &&
        hexOfLength(s.ciphertext, SHARE_CIPHERTEXT_BYTES) !== undefined &&
        hexOfLength(s.bDigest, 32) !== undefined && hexOfLength(s.skDigest, 32) !== undefined
      ) && hexOfLength(msg.bCommit, 32) !== undefined;
    if (!ok) {
      return reject("MALFORMED", "need one sealed share per neighbour and the commitment to b");
    }
    this.#shares.set(msg.id, msg.shares);
    this.#bCommits.set(msg.id, msg.bCommit.toLowerCase() as Hex);
    return { ok: true };
  }

  #closeShareKeys(): Map<string, ServerRequest> {
    for (const id of this.#live) if (!this.#shares.has(id)) this.#excluded.set(id, "no-shares");
    this.#live = this.#prune(new Set(this.#shares.keys()), "ShareKeys");
    const inbox = new Map<string, EncryptedShare[]>([...this.#live].map((u) => [u, []]));
    for (const u of this.#live) {
      this.#partners.set(u, this.#liveNeighbours(u));
      for (const s of this.#shares.get(u)!) inbox.get(s.to)?.push(s);
    }
    this.#stage = "MaskedInputCollection";
    return new Map([...this.#live].map((u) => [u, {
      stage: "MaskedInputCollection",
      shares: inbox.get(u)!,
    }]));
  }

  #onMaskedInput(msg: MaskedInput): Receipt {
    if (!this.#live.has(msg.id)) return reject("NOT_INVITED", `${msg.id} is not in this stage`);
    if (this.#inputs.has(msg.id)) return reject("DUPLICATE", `input of ${msg.id} already in`);
    const m = msg.masked;
    if (!(m instanceof Uint32Array) || m.length !== this.params.vectorLength) {
      return reject("MALFORMED", `masked input must be ${this.params.vectorLength} u32 words`);
    }
    const sum = this.#sum;
    // Stores into a Uint32Array reduce mod 2^32: the ring addition.
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + m[i]!;
    this.#inputs.add(msg.id);
    return { ok: true };
  }

  #closeMaskedInput(): Map<string, ServerRequest> {
    const { clients, minSurvivors } = this.params;
    const survivors = clients.filter((id) => this.#inputs.has(id));
    if (survivors.length < minSurvivors) {
      throw new TooFewSurvivorsError({
        stage: "MaskedInputCollection",
        survivors: survivors.length,
        needed: minSurvivors,
      });
    }
    this.#dropped = clients.filter((id) => this.#live.has(id) && !this.#inputs.has(id));
    for (const d of this.#dropped) this.#excluded.set(d, "no-masked-input");
    this.#survivors = rosterBitmap(survivors, clients);
    if (!this.params.consistencyCheck) return this.#unmaskRequests(survivors);
    this.#stage = "ConsistencyCheck";
    return new Map(
      survivors.map((u) => [u, { stage: "ConsistencyCheck", survivors: this.#survivors }]),
    );
  }

  async #onConsistency(msg: ConsistencySignature): Promise<Receipt> {
    if (!this.#inputs.has(msg.id)) return reject("NOT_INVITED", `${msg.id} is not a survivor`);
    if (this.#signatures.has(msg.id)) return reject("DUPLICATE", `${msg.id} already signed`);
    const payload = consistencyPayload(this.params.context, hexToBytes(this.#survivors));
    if (!(await this.#verify!(msg.id, payload, msg.signature))) {
      return reject("BAD_SIGNATURE", `consistency signature of ${msg.id} does not verify`);
    }
    this.#signatures.set(msg.id, msg.signature);
    return { ok: true };
  }

  #signers(): string[] {
    const signers = this.params.clients.filter((id) => this.#signatures.has(id));
    if (signers.length < this.params.minSurvivors) {
      throw new TooFewSurvivorsError({
        stage: "ConsistencyCheck",
        survivors: signers.length,
        needed: this.params.minSurvivors,
      });
    }
    return signers;
  }

  #unmaskRequests(invited: string[]): Map<string, ServerRequest> {
    const dropped = rosterBitmap(this.#dropped, this.params.clients);
    const signatures = this.params.consistencyCheck
      ? [...this.#signatures].map(([id, signature]) => ({ id, signature }))
      : undefined;
    this.#invited = new Set(invited);
    this.#stage = "Unmasking";
    return new Map(invited.map((u) => [u, {
      stage: "Unmasking",
      survivors: this.#survivors,
      dropped,
      ...(signatures ? { signatures } : {}),
    }]));
  }

  #onUnmask(msg: UnmaskResponse): Receipt {
    if (!this.#invited.has(msg.id)) return reject("NOT_INVITED", `${msg.id} was not asked`);
    if (this.#responded.has(msg.id)) return reject("DUPLICATE", `${msg.id} already answered`);
    const held = new Set(this.#partners.get(msg.id));
    const seen = new Set<string>();
    const valid = (list: unknown, wanted: (v: string) => boolean) =>
      Array.isArray(list) &&
      list.every((s) =>
        held.has(s?.of) && wanted(s.of) && !seen.has(s.of) && seen.add(s.of) &&
        hexOfLength(s.share, SHARE_BYTES) !== undefined
      );
    const dropped = new Set(this.#dropped);
    if (
      !valid(msg.selfMaskShares, (v) => this.#inputs.has(v)) ||
      !valid(msg.maskKeyShares, (v) => dropped.has(v))
    ) return reject("MALFORMED", "shares must be of this client's partners, one kind each");
    const forged = this.#forgedShare(msg);
    if (forged) return reject("BAD_SHARE", forged);
    const x = this.params.index.get(msg.id)! + 1;
    for (const s of msg.selfMaskShares) addShare(this.#selfMaskShares, s.of, x, s.share);
    for (const s of msg.maskKeyShares) addShare(this.#maskKeyShares, s.of, x, s.share);
    this.#responded.add(msg.id);
    return { ok: true };
  }

  /**
   * Why `msg` reveals a share its sender did not seal for this client (undefined: none): each
   * must hash to the digest the neighbour committed to in ShareKeys. A wrong one would rebuild a
   * wrong secret, and the sum would be ring noise.
   */
  #forgedShare(msg: UnmaskResponse): string | undefined {
    const { context } = this.params;
    const check = (list: { of: string; share: Hex }[], kind: "b" | "sk") => {
      for (const s of list) {
        const sealed = this.#shares.get(s.of)!.find((e) => e.to === msg.id)!;
        const want = kind === "b" ? sealed.bDigest : sealed.skDigest;
        if (shareDigest(context, s.of, msg.id, kind, hexToBytes(s.share)) !== want) {
          return `${msg.id}'s share of ${s.of} is not the one ${s.of} sealed for it`;
        }
      }
    };
    return check(msg.selfMaskShares, "b") ?? check(msg.maskKeyShares, "sk");
  }

  /** Drops clients with fewer than t neighbours in `live`, until none is left to drop. */
  #prune(live: Set<string>, stage: SecAggStage): Set<string> {
    const { threshold, neighbours, minSurvivors } = this.params;
    for (const u of pruneBelowThreshold(live, { neighbours, threshold })) {
      this.#excluded.set(u, "too-few-neighbours");
    }
    if (live.size < minSurvivors) {
      throw new TooFewSurvivorsError({ stage, survivors: live.size, needed: minSurvivors });
    }
    return live;
  }

  #liveNeighbours(u: string): string[] {
    return this.params.neighbours.get(u)!.filter((v) => this.#live.has(v));
  }
}

function reject(code: RejectCode, message: string): Receipt {
  return { ok: false, code, message: `Cannot accept message: ${message}` };
}
