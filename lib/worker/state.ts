/**
 * What a worker keeps across crashes: the state file (an update trained but not yet delivered)
 * and, beside it, each job's error-feedback residual, staged with a pending update and adopted
 * once the update went out, so a retry re-encodes from the same residual.
 *
 * Where the bytes live is a {@link StateStorage}: files beside a path for the Deno worker
 * ({@link FileStateStorage}), IndexedDB or memory in a browser tab (lib/browser/state_storage.ts).
 *
 * @example
 * ```ts
 * import { WorkerState } from "./state.ts";
 * const dir = await Deno.makeTempDir();
 * const state = new WorkerState(`${dir}/worker.json`);
 * await state.savePending({ jobId: "0x01", round: 0, envelope: "{}" });
 * console.assert((await state.pending())?.round === 0);
 * await state.savePending(undefined);
 * console.assert((await state.pending()) === undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
import type { Hex } from "viem";
import { writeFileAtomic } from "../store/atomic.ts";
import { createErrorFeedback, type ErrorFeedbackState } from "../compress/codec.ts";
import { keepChallengeable, roundKey } from "../verify/commit_retention.ts";
import {
  decodeSteps,
  encodeSteps,
  maskedName,
  readResidual,
  residualName,
  stepsName,
  updateName,
} from "./_state_records.ts";

/**
 * Named byte records a worker's state is kept in. Names are `state`, `commits`,
 * `update.<jobId>.<round>`, `<jobId>.residual`, `<jobId>.residual.next` and `<jobId>.secagg`. Writes replace a record whole or not at all.
 */
export interface StateStorage {
  /** The record's bytes, undefined when there is none. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Replaces the record atomically. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Moves `from` over `to`; nothing happens when `from` does not exist. */
  rename(from: string, to: string): Promise<void>;
  /** Deletes the record if it exists. */
  remove(name: string): Promise<void>;
  /** Where the record is, for messages (a path, a database key). */
  where(name: string): string;
}

const PRIVATE = { mode: 0o600 };

/**
 * Records as files: `state` is the file at `path`, any other name the file `<path>.<name>`,
 * written atomically with mode 0600.
 *
 * @example
 * ```ts
 * import { FileStateStorage } from "./state.ts";
 * const dir = await Deno.makeTempDir();
 * const storage = new FileStateStorage(`${dir}/worker.json`);
 * await storage.write("state", new Uint8Array([1]));
 * console.assert((await storage.read("state"))?.[0] === 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileStateStorage implements StateStorage {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  where(name: string): string {
    return name === "state" ? this.path : `${this.path}.${name}`;
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      return await Deno.readFile(this.where(name));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    try {
      await writeFileAtomic(this.where(name), bytes, PRIVATE);
    } catch (e) {
      // Found in the worker audit: a state folder nobody made (the key kept elsewhere) lost each
      // trained round on this write. The CLI makes it at start; a library caller may not have.
      // (No node:path here: a browser tab imports this module.)
      const cut = Math.max(this.path.lastIndexOf("/"), this.path.lastIndexOf("\\"));
      if (!(e instanceof Deno.errors.NotFound) || cut <= 0) throw e;
      await Deno.mkdir(this.path.slice(0, cut), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.where(name), bytes, PRIVATE);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await Deno.rename(this.where(from), this.where(to));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  async remove(name: string): Promise<void> {
    await Deno.remove(this.where(name)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/** An update saved before it is posted: re-sent as is after a crash, never retrained. */
export interface PendingUpdate {
  jobId: Hex;
  round: number;
  /** The signed envelope as posted (JSON). */
  envelope: string;
}

/**
 * The secure aggregation attempt of a job's round in which the node sent (or was about to send)
 * its masked input. SecAgg+ may be retried in a new attempt, but a node takes part with its input
 * in one attempt per round only: two unmasked sums of the same updates, one with and one without
 * a node, would give that node's update away.
 */
export interface MaskedInputSent {
  round: number;
  attempt: number;
  /** The session's identity (lib/worker/secure_aggregation.ts sessionId); a record without one,
   * from an older worker, matches no session. */
  session?: Hex;
}

/**
 * A committed round as kept for challenges and disputes after a restart: its digests, the CID of
 * the update it uploaded, and what never left the node, the per-step records and digests. The
 * bytes its gradientDigest covers are kept beside it (`update.<jobId>.<round>`): read back from
 * the coordinator's SVDB instead, a coordinator that withheld them left the node unable to answer.
 */
export interface SavedCommit {
  jobId: Hex;
  round: number;
  lossDigest: Hex;
  gradientDigest: Hex;
  weightsDigest: Hex;
  updateCid: string;
  stepRecords?: Hex;
  stepDigests?: Hex[];
  /**
   * The round's update went out (or the coordinator said the round closed without it): an offer
   * of this round again is refused, not trained. Unset while committed but not yet delivered, so
   * a crash in between still retrains the round and re-posts it.
   */
  delivered?: boolean;
}

/** The state file's content. */
interface SavedState {
  pending?: PendingUpdate;
}

/**
 * A worker's crash state: in `storage`, or files beside `path` (no storage: kept in memory only,
 * nothing survives).
 */
export class WorkerState {
  /** The state file, when the storage is files. */
  readonly path?: string;
  readonly storage?: StateStorage;
  /** Error-feedback residual per job: what compression left out, added to the next update. */
  #residuals = new Map<string, ErrorFeedbackState>();
  /** Masked inputs sent, per job (the storage's copy when there is one). */
  #masked = new Map<string, MaskedInputSent>();
  /** Rounds delivered by this process (`roundKey`), for a state kept nowhere. */
  #delivered = new Set<string>();

  constructor(where?: string | StateStorage) {
    this.storage = typeof where === "string" ? new FileStateStorage(where) : where;
    this.path = typeof where === "string" ? where : undefined;
  }

  /** The update saved but not yet delivered, if any. */
  async pending(): Promise<PendingUpdate | undefined> {
    if (!this.storage) return undefined;
    try {
      const bytes = await this.storage.read("state");
      if (!bytes) return undefined;
      return (JSON.parse(new TextDecoder().decode(bytes)) as SavedState).pending;
    } catch (e) {
      throw new Error(
        `Cannot read worker state ${this.storage.where("state")}: delete it to start over`,
        { cause: e },
      );
    }
  }

  /** Saves `pending` (undefined: the last one was delivered). */
  async savePending(pending: PendingUpdate | undefined): Promise<void> {
    if (!this.storage) return;
    const state: SavedState = pending ? { pending } : {};
    await this.storage.write("state", new TextEncoder().encode(JSON.stringify(state)));
  }

  /** The commits kept for challenges and disputes, oldest first. */
  async commits(): Promise<SavedCommit[]> {
    const bytes = await this.storage?.read("commits");
    return bytes ? JSON.parse(new TextDecoder().decode(bytes)) as SavedCommit[] : [];
  }

  /**
   * Keeps `commit` and the bytes its gradientDigest covers (none for a secure job's update),
   * forgetting the commits of its job the chain can no longer challenge, except the `pinned`
   * rounds (an open challenge or dispute still needs them: commit_retention.ts).
   */
  async saveCommit(
    commit: SavedCommit,
    updateBytes?: Uint8Array,
    pinned?: ReadonlySet<string>,
  ): Promise<void> {
    if (!this.storage) return;
    const listed = await this.#writeRecords(commit, updateBytes);
    const before = (await this.commits()).filter((c) =>
      c.jobId !== commit.jobId || c.round !== commit.round
    );
    const kept = keepChallengeable([...before, listed], commit.jobId, pinned);
    await this.#writeCommits(kept, before);
  }

  /**
   * Keeps `commit` before its transaction is sent, unless a commit of its round is kept already
   * (what the node did commit, which a retry with other inputs must not replace); true when it
   * was added. Nothing else is forgotten here: that waits for the commit to land
   * ({@link saveCommit}). Found in the worker audit: kept only after the commit landed, a crash
   * or a lost RPC answer in between, with the round closed by the restart, left a commit on
   * chain the node could answer no challenge of (10% of its stake each).
   */
  async saveIntendedCommit(commit: SavedCommit, updateBytes?: Uint8Array): Promise<boolean> {
    if (!this.storage) return false;
    const before = await this.commits();
    if (before.some((c) => c.jobId === commit.jobId && c.round === commit.round)) return false;
    await this.#writeCommits([...before, await this.#writeRecords(commit, updateBytes)], before);
    return true;
  }

  /**
   * The commit {@link saveIntendedCommit} kept has landed: forgets, as {@link saveCommit} does, the
   * job's commits the chain can no longer challenge, except the `pinned` rounds. Its records are
   * written already: a model's worth of update bytes is not written twice a round.
   */
  async commitLanded(jobId: Hex, pinned?: ReadonlySet<string>): Promise<void> {
    if (!this.storage) return;
    const before = await this.commits();
    await this.#writeCommits(keepChallengeable(before, jobId.toLowerCase(), pinned), before);
  }

  /** Forgets the commit of one round and its bytes (one {@link saveIntendedCommit} added that
   * never landed). */
  async dropCommit(jobId: Hex, round: number): Promise<void> {
    if (!this.storage) return;
    const before = await this.commits();
    const id = jobId.toLowerCase();
    await this.#writeCommits(before.filter((c) => c.jobId !== id || c.round !== round), before);
  }

  /**
   * Marks the kept commit of `round` delivered. Found in the worker audit: a coordinator that
   * offered a round the node had already delivered again had it trained, uploaded and posted
   * again in a tight loop; {@link delivered} lets the worker refuse such an offer.
   */
  async markDelivered(jobId: Hex, round: number): Promise<void> {
    this.#delivered.add(roundKey(jobId, round));
    if (!this.storage) return;
    const id = jobId.toLowerCase();
    const kept = (await this.commits()).map((c) =>
      c.jobId === id && c.round === round ? { ...c, delivered: true } : c
    );
    await this.storage.write("commits", new TextEncoder().encode(JSON.stringify(kept)));
  }

  /** Whether this node delivered `round` of `jobId` (marked by {@link markDelivered}). */
  async delivered(jobId: Hex, round: number): Promise<boolean> {
    if (this.#delivered.has(roundKey(jobId, round))) return true;
    const id = jobId.toLowerCase();
    return (await this.commits()).some((c) =>
      c.jobId === id && c.round === round && c.delivered === true
    );
  }

  /**
   * A kept commit's step records and digests: from their own record, or from the commit list as
   * a worker before that record wrote them.
   */
  async committedSteps(
    jobId: Hex,
    round: number,
  ): Promise<Pick<SavedCommit, "stepRecords" | "stepDigests">> {
    const bytes = await this.storage?.read(stepsName(jobId, round));
    if (bytes) return decodeSteps(bytes);
    const listed = (await this.commits()).find((c) => c.jobId === jobId && c.round === round);
    return listed ? { stepRecords: listed.stepRecords, stepDigests: listed.stepDigests } : {};
  }

  /** The bytes kept for a commit's gradientDigest, undefined when none were kept. */
  async committedUpdate(jobId: Hex, round: number): Promise<Uint8Array | undefined> {
    return await this.storage?.read(updateName(jobId, round));
  }

  /**
   * Forgets every commit of `jobId` (the chain opens no case on it any more) and its bytes, and
   * the job's residual and masked-input record: found in the browser audit, a residual (4 bytes a
   * parameter) stayed in memory and in storage for every job a node ever trained, until a tab's
   * quota ran out and no commit could be kept.
   */
  async forgetJob(jobId: Hex): Promise<void> {
    const id = jobId.toLowerCase();
    this.#residuals.delete(id);
    this.#masked.delete(id);
    for (const key of this.#delivered) if (key.startsWith(`${id}:`)) this.#delivered.delete(key);
    if (!this.storage) return;
    const before = await this.commits();
    await this.#writeCommits(before.filter((c) => c.jobId !== id), before);
    for (const name of [residualName(id), residualName(id, true), maskedName(id)]) {
      await this.storage.remove(name);
    }
  }

  /** Writes a commit's update bytes and step records; what goes in the commit list is returned. */
  async #writeRecords(commit: SavedCommit, updateBytes?: Uint8Array): Promise<SavedCommit> {
    if (updateBytes) await this.storage!.write(updateName(commit.jobId, commit.round), updateBytes);
    // A round's step records and digests go in a record of their own: in the one list of every
    // kept commit, rewritten at each commit, a job of a few hundred thousand steps a round passed
    // the runtime's string limit and the write threw after the commit was on chain.
    const { stepRecords, stepDigests, ...listed } = commit;
    const steps = encodeSteps(stepRecords, stepDigests);
    if (steps) await this.storage!.write(stepsName(commit.jobId, commit.round), steps);
    return listed;
  }

  /** Writes the kept commits, then removes the bytes of those `before` had and `kept` has not. */
  async #writeCommits(kept: SavedCommit[], before: SavedCommit[]): Promise<void> {
    await this.storage!.write("commits", new TextEncoder().encode(JSON.stringify(kept)));
    const still = new Set(kept.map((c) => updateName(c.jobId, c.round)));
    for (const c of before) {
      if (still.has(updateName(c.jobId, c.round))) continue;
      await this.storage!.remove(updateName(c.jobId, c.round));
      await this.storage!.remove(stepsName(c.jobId, c.round));
    }
  }

  /** The attempt in which the node last sent a masked input for the job, if any. */
  async maskedInputSent(jobId: Hex): Promise<MaskedInputSent | undefined> {
    const known = this.#masked.get(jobId.toLowerCase());
    if (known || !this.storage) return known;
    const bytes = await this.storage.read(maskedName(jobId));
    return bytes ? JSON.parse(new TextDecoder().decode(bytes)) as MaskedInputSent : undefined;
  }

  /** Records, before it is sent, that the node sends its masked input in this attempt. */
  async recordMaskedInput(jobId: Hex, sent: MaskedInputSent): Promise<void> {
    this.#masked.set(jobId.toLowerCase(), sent);
    const bytes = new TextEncoder().encode(JSON.stringify(sent));
    await this.storage?.write(maskedName(jobId), bytes);
  }

  /** The job's error-feedback residual: in memory, else from storage, else zeros. */
  async residualFor(jobId: Hex, length: number): Promise<ErrorFeedbackState> {
    // One entry per job whatever the case of the id a coordinator spells it in: the files are
    // lower-case, and a second entry would hand out a stale residual.
    jobId = jobId.toLowerCase() as Hex;
    const known = this.#residuals.get(jobId);
    if (known) return known;
    let state: ErrorFeedbackState | undefined;
    if (this.storage) {
      // A staged residual without a pending update is from a crash before the update was saved:
      // the round is trained again from the current residual, so drop it.
      await this.storage.remove(residualName(jobId, true));
      state = await readResidual(this.storage, residualName(jobId), length);
    }
    state ??= createErrorFeedback(length);
    this.#residuals.set(jobId, state);
    return state;
  }

  /** Stages the residual that goes with the update about to be saved as pending. */
  async stageResidual(jobId: Hex, state: ErrorFeedbackState): Promise<void> {
    if (!this.storage) return;
    const r = state.residual;
    await this.storage.write(
      residualName(jobId, true),
      new Uint8Array(r.buffer, r.byteOffset, r.byteLength),
    );
  }

  /** The update went out: its residual becomes the next round's input (memory and storage). */
  async adoptResidual(jobId: Hex, state?: ErrorFeedbackState): Promise<void> {
    await this.storage?.rename(residualName(jobId, true), residualName(jobId));
    const key = jobId.toLowerCase();
    if (state) this.#residuals.set(key, state);
    else this.#residuals.delete(key); // reloaded from storage on next use
  }
}
