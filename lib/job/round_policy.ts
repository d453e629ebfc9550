/**
 * When may a federated round close? Pure functions of (assigned nodes, updates received,
 * clock), so the coordinator's round close (lib/coordinator/closing.ts) and tests agree
 * (design doc, "Synchronizing Gradient Updates from All Nodes", "Technique: Partial Updates":
 * wait for 80% of participants; "Handling Nodes Dropping Offline Mid-Training").
 *
 * Rules, first match wins:
 * 1. every assigned node reported -> close, `complete`;
 * 2. quorum reached (ceil(quorumBps * assigned / 10000), at least `minUpdates`) and the
 *    straggler grace (`quorumGraceMs` after the quorum-th update; default 0) is over
 *    -> close, `quorum`;
 * 3. deadline passed with at least `minUpdates` -> close, `deadline` (a partial round);
 * 4. deadline passed with fewer -> close with `ok: false`, `insufficient` (reassign or retry);
 * 5. otherwise keep waiting, `waiting`.
 * Updates from nodes that were not assigned are ignored and listed as `unexpected`.
 *
 * @example
 * ```ts
 * import { decideRound } from "./round_policy.ts";
 * const assigned = ["a", "b", "c", "d", "e"];
 * const d = decideRound({ assigned, received: ["a", "b", "c", "d"], openedAt: 0, now: 1_000 });
 * console.log(d.close, d.reason, d.missing); // true quorum [ "e" ]
 * ```
 *
 * @module
 */

/** Basis points in one (10000 bps = 100%). */
export const BPS = 10_000;
/**
 * Default quorum: 80% of assigned nodes (design doc, "Synchronizing Gradient Updates from All
 * Nodes").
 */
export const DEFAULT_QUORUM_BPS = 8_000;
/** {@link DEFAULT_QUORUM_BPS} as the fraction a job spec's `aggregation.quorum` holds. */
export const DEFAULT_QUORUM = DEFAULT_QUORUM_BPS / BPS;
/** Default round deadline of a job spec (`aggregation.deadlineMs`): 10 minutes. */
export const DEFAULT_ROUND_DEADLINE_MS = 10 * 60_000;
/**
 * AIJobManager.STALL_GRACE (contracts/AIJobManager.sol), in ms: a running job no round has closed
 * on for this long past a round's budgeted compute time may be abandoned by its owner or by any of
 * its nodes' operators.
 */
export const CHAIN_STALL_GRACE_MS = 24 * 60 * 60_000;
/**
 * The longest round deadline `job submit` escrows a job with: a third of
 * {@link CHAIN_STALL_GRACE_MS} (8 h), so a round that waits its deadline twice (a withholding
 * node, then the round extended once to move a dead node's task to a spare) still closes well
 * before the chain lets a node's operator abandon the job.
 */
export const MAX_ROUND_DEADLINE_MS = CHAIN_STALL_GRACE_MS / 3;

/** Inputs of a close decision. */
export interface RoundState {
  /** Nodes assigned to the round. */
  assigned: readonly string[];
  /** Nodes whose valid update has been received (duplicates allowed, counted once). */
  received: readonly string[];
  /** When the round opened (ms since epoch). */
  openedAt: number;
  /** The clock now (ms since epoch). */
  now: number;
  /** When the quorum-th update arrived, if known (for the straggler grace). */
  quorumReachedAt?: number;
}

/** Knobs of the close rule. */
export interface RoundPolicy {
  /** Quorum in basis points of assigned nodes (default 8000 = 80%). */
  quorumBps?: number;
  /** Round deadline in ms after openedAt (default: none). */
  deadlineMs?: number;
  /** Fewest updates a round may close with (default 1). */
  minUpdates?: number;
  /** Extra wait after quorum for stragglers, in ms (default 0: close at quorum). */
  quorumGraceMs?: number;
}

/** Why a round closes, or does not yet. */
export type CloseReason = "complete" | "quorum" | "deadline" | "insufficient" | "waiting";

/** The decision, with the accounting behind it. */
export interface RoundDecision {
  close: boolean;
  /** False only when the round closes without enough updates (`insufficient`). */
  ok: boolean;
  reason: CloseReason;
  /** Distinct assigned nodes that reported. */
  received: number;
  /** Updates needed for quorum. */
  quorum: number;
  /** Assigned nodes that have not reported (sorted). */
  missing: string[];
  /** Reporting nodes that were not assigned (sorted). */
  unexpected: string[];
}

/** Dropout accounting for a round: who is missing, who was not expected, participation. */
export interface DropoutReport {
  missing: string[];
  unexpected: string[];
  /** Distinct assigned nodes that reported. */
  reported: number;
  /** reported / assigned, in basis points (rounded down). */
  participationBps: number;
}

/** Who of the assigned nodes is missing, and who reported without being assigned. */
export function dropoutReport(
  assigned: readonly string[],
  received: readonly string[],
): DropoutReport {
  const want = new Set(assigned);
  const got = new Set(received);
  const missing = [...want].filter((id) => !got.has(id)).sort();
  const unexpected = [...got].filter((id) => !want.has(id)).sort();
  const reported = want.size - missing.length;
  const participationBps = want.size === 0 ? 0 : Math.floor((reported * BPS) / want.size);
  return { missing, unexpected, reported, participationBps };
}

/** Updates needed for quorum: ceil(bps * assigned / 10000), integer arithmetic. */
export function quorumCount(assigned: number, quorumBps: number = DEFAULT_QUORUM_BPS): number {
  if (!Number.isInteger(quorumBps) || quorumBps < 0 || quorumBps > BPS) {
    throw new RangeError(`Cannot compute quorum: quorumBps ${quorumBps} not in [0, ${BPS}]`);
  }
  return Math.ceil((assigned * quorumBps) / BPS);
}

/** Decides whether the round may close now. */
export function decideRound(state: RoundState, policy: RoundPolicy = {}): RoundDecision {
  const minUpdates = policy.minUpdates ?? 1;
  if (!Number.isInteger(minUpdates) || minUpdates < 0) {
    throw new RangeError(`Cannot decide round: minUpdates ${minUpdates} is not an integer >= 0`);
  }
  const report = dropoutReport(state.assigned, state.received);
  const assigned = new Set(state.assigned).size;
  const quorum = Math.max(quorumCount(assigned, policy.quorumBps), minUpdates);
  const base = {
    received: report.reported,
    quorum,
    missing: report.missing,
    unexpected: report.unexpected,
  };
  const decision = (close: boolean, ok: boolean, reason: CloseReason): RoundDecision => ({
    close,
    ok,
    reason,
    ...base,
  });

  if (assigned > 0 && report.missing.length === 0) return decision(true, true, "complete");
  if (report.reported >= quorum && report.reported > 0) {
    const grace = policy.quorumGraceMs ?? 0;
    const since = state.quorumReachedAt ?? state.now;
    if (state.now - since >= grace) return decision(true, true, "quorum");
  }
  const deadline = policy.deadlineMs;
  if (deadline !== undefined && state.now - state.openedAt >= deadline) {
    return report.reported >= minUpdates && report.reported > 0
      ? decision(true, true, "deadline")
      : decision(true, false, "insufficient");
  }
  return decision(false, true, "waiting");
}
