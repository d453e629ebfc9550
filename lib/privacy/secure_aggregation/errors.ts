/**
 * Errors of secure aggregation that callers catch, each with a stable `code`. Bad arguments
 * are plain `TypeError` / `RangeError`; messages the server refuses come back as a
 * {@link import("./messages.ts").Receipt} instead of an exception.
 *
 * @module
 */

/** The protocol's rounds, in order (ConsistencyCheck only when configured). */
export type SecAggStage =
  | "AdvertiseKeys"
  | "ShareKeys"
  | "MaskedInputCollection"
  | "ConsistencyCheck"
  | "Unmasking";

/**
 * Thrown when fewer clients are left than the round needs: by the server when it closes a
 * stage with fewer than `minSurvivors` (the sum would reveal too little or the DP noise would be
 * short), and by a client with fewer than `threshold` live neighbours (its input could not be
 * unmasked).
 */
export class TooFewSurvivorsError extends Error {
  /** Stable error code. */
  readonly code = "SECAGG_TOO_FEW_SURVIVORS" as const;
  /** Stage that could not close. */
  readonly stage: SecAggStage;
  /** Clients left. */
  readonly survivors: number;
  /** Clients needed. */
  readonly needed: number;
  /** @param details stage, clients left and needed */
  constructor(details: { stage: SecAggStage; survivors: number; needed: number }) {
    super(
      `Cannot close ${details.stage}: ${details.survivors} clients left, ${details.needed} needed`,
    );
    this.name = "TooFewSurvivorsError";
    this.stage = details.stage;
    this.survivors = details.survivors;
    this.needed = details.needed;
  }
}

/** Thrown by the server when too few neighbours answered Unmasking to rebuild a secret. */
export class TooFewSharesError extends Error {
  /** Stable error code. */
  readonly code = "SECAGG_TOO_FEW_SHARES" as const;
  /** Whose secret could not be rebuilt. */
  readonly client: string;
  /** "self-mask" (a survivor's b_u) or "mask-key" (a dropped client's s_u^SK). */
  readonly kind: "self-mask" | "mask-key";
  /** Shares received. */
  readonly shares: number;
  /** Shares needed (the threshold). */
  readonly needed: number;
  /** @param details client, kind of secret, shares received and needed */
  constructor(details: {
    client: string;
    kind: "self-mask" | "mask-key";
    shares: number;
    needed: number;
  }) {
    super(
      `Cannot unmask ${details.client}: ${details.shares} ${details.kind} shares, ` +
        `${details.needed} needed`,
    );
    this.name = "TooFewSharesError";
    this.client = details.client;
    this.kind = details.kind;
    this.shares = details.shares;
    this.needed = details.needed;
  }
}

/** Why an honest client refused an unmasking request. */
export type UnmaskRefusal =
  | "both-shares" // the request asks for b and s_sk of the same client
  | "conflicts-earlier-answer" // it asks for the other share than an earlier request did
  | "self-dropped" // it says this (live) client dropped
  | "too-few-survivors" // fewer than minSurvivors in the sum
  | "consistency"; // ConsistencyCheck signatures missing, invalid or for another set

/**
 * Thrown by a client that refuses an Unmasking request. Refusing is what keeps a lying server
 * from unmasking one client's input, e.g. by claiming a live client dropped.
 */
export class UnmaskRefusedError extends Error {
  /** Stable error code. */
  readonly code = "SECAGG_UNMASK_REFUSED" as const;
  /** Why. */
  readonly reason: UnmaskRefusal;
  /** The client the offending part of the request is about, when there is one. */
  readonly client?: string;
  /** @param details reason and client */
  constructor(details: { reason: UnmaskRefusal; client?: string }) {
    super(
      `Cannot answer unmasking request: ${details.reason}` +
        (details.client === undefined ? "" : ` (${details.client})`),
    );
    this.name = "UnmaskRefusedError";
    this.reason = details.reason;
    this.client = details.client;
  }
}

/**
 * Thrown when a share does not check out: a ciphertext that fails authentication (tampered,
 * replayed from another round or pair, or truncated), or shares that rebuild no valid secret.
 */
export class InvalidShareError extends Error {
  /** Stable error code. */
  readonly code = "SECAGG_INVALID_SHARE" as const;
  /** The sender of the ciphertext, or the client whose secret failed to rebuild. */
  readonly client: string;
  /** @param details client and what is wrong */
  constructor(details: { client: string; reason: string }, options?: ErrorOptions) {
    super(`Cannot accept share of ${details.client}: ${details.reason}`, options);
    this.name = "InvalidShareError";
    this.client = details.client;
  }
}

/**
 * Thrown by a client given a message that an honest server never sends: keys of a
 * non-neighbour, a bad signature, a repeated sender, a request for the wrong stage; and by
 * either side when called out of order.
 */
export class ProtocolError extends Error {
  /** Stable error code. */
  readonly code = "SECAGG_PROTOCOL" as const;
  /** Stage the client was in. */
  readonly stage: string;
  /** @param stage the client's stage @param reason what is wrong */
  constructor(stage: string, reason: string) {
    super(`Cannot run ${stage}: ${reason}`);
    this.name = "ProtocolError";
    this.stage = stage;
  }
}
