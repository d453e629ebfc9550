/**
 * Ending a job and getting back what the chain owes, as far as it allows now. As its owner
 * (`deno task job cancel`): a job nobody works on yet is cancelled whole. A running job may be
 * abandoned only once its coordinator has stopped closing rounds (AIJobManager.stalledAt): it is
 * cut to the rounds it ran, the rest of the budget comes back at once, and the nodes' committed
 * rounds are settled after the settlement delay, which this settles too when it is past. Whatever
 * the account was credited is then withdrawn. Run again, it takes the next step. As the operator
 * of a node the job was assigned (`deno task worker settle`): the same from the abandonment on, so
 * a node is paid for its closed rounds when the owner went away with its coordinator.
 *
 * @example
 * ```ts ignore
 * import { cancelOwnJob, settleAsOperator } from "./job_cancel.ts";
 * const done = await cancelOwnJob(owner, { addresses, jobId, log: console.log });
 * const paid = await settleAsOperator(operator, { addresses, jobId, node, log: console.log });
 * ```
 */
import { formatEther, type Hex } from "viem";
import { abandonJob } from "../chain/abandon_job.ts";
import { cancelJob } from "../chain/cancel_job.ts";
import type { ArthaClient } from "../chain/client.ts";
import { type ArthaAddresses, JobStatus } from "../chain/contracts.ts";
import { finalizeJob, withdrawRewards } from "../chain/finalize_job.ts";
import { getAssignedOperator } from "../chain/get_assigned_operator.ts";
import { getClaimable } from "../chain/get_claimable.ts";
import { getOpenCases } from "../chain/get_open_cases.ts";
import { getSettlementDelay } from "../chain/get_settlement_delay.ts";
import { getStalledAt } from "../chain/get_stalled_at.ts";
import { readJob } from "../chain/read_job.ts";
import { ChainCallError } from "../chain/send_contract.ts";
import { endStaleCases, settleRoundGroups } from "./job_cases.ts";

/** Thrown when the job cannot be ended by this account, or not yet; nothing was sent. */
export class CancelRefusedError extends Error {
  constructor(
    readonly code: "UNKNOWN_JOB" | "NOT_JOB_OWNER" | "NOT_JOB_NODE" | "JOB_RUNNING",
    message: string,
    /** JOB_RUNNING: unix seconds from which the job may be abandoned. */
    readonly stalledAt?: number,
  ) {
    super(message);
    this.name = "CancelRefusedError";
  }
}

/** What one `job cancel` or `worker settle` did. */
export interface CancelOutcome {
  /** The job's status on chain afterwards (a JobStatus value). */
  status: number;
  /** Wei credited to the owner by this call (cancel, abandon and settlement refunds); 0 for an
   * operator, whose node's pay is in `withdrawn`. */
  refunded: bigint;
  /** Wei paid out to the caller's account by this call (everything it was credited). */
  withdrawn: bigint;
  /** Unix seconds from which the job can be settled, while that is still ahead. */
  settlesAt?: number;
}

/** Ends `jobId` as far as the chain allows now and withdraws what the owner was credited. */
export async function cancelOwnJob(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; log?: (line: string) => void },
): Promise<CancelOutcome> {
  const { addresses, jobId } = params;
  const log = params.log ?? (() => {});
  const job = await readJob(client, { addresses, jobId });
  refuseStranger(client, jobId, job);
  let refunded = 0n;
  if (job.status === JobStatus.Open) {
    const { refund } = await cancelOpen(client, addresses, jobId);
    refunded += refund;
    log(`job ${jobId} cancelled before any node was assigned: ${formatEther(refund)} ARTH back`);
  } else if (job.status === JobStatus.Running) {
    refunded += await abandonStalled(client, { addresses, jobId, job, log });
  }
  const settled = await settle(client, addresses, jobId, log);
  refunded += settled.refund;
  const withdrawn = await withdraw(client, addresses, log);
  return { status: settled.status, refunded, withdrawn, settlesAt: settled.settlesAt };
}

/**
 * Ends `jobId` as far as the chain allows now as the operator of `node`, one of its nodes the job
 * was assigned: abandons it once it stalled, settles it once it may be, and withdraws what the
 * operator was credited (its nodes' pay from this and any other settled job).
 */
export async function settleAsOperator(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; jobId: Hex; node: Hex; log?: (line: string) => void },
): Promise<CancelOutcome> {
  const { addresses, jobId, node } = params;
  const log = params.log ?? (() => {});
  const job = await readJob(client, { addresses, jobId });
  if (job.status === JobStatus.None) {
    throw new CancelRefusedError(
      "UNKNOWN_JOB",
      `Cannot settle job ${jobId}: this deployment's jobs contract has no such job`,
    );
  }
  const operator = await getAssignedOperator(client, { addresses, jobId, nodePubkey: node });
  if (operator.toLowerCase() !== client.account.address.toLowerCase()) {
    throw new CancelRefusedError(
      "NOT_JOB_NODE",
      `Cannot settle job ${jobId}: node ${node} of ${client.account.address} was never ` +
        "assigned to it (settle a job with the node key that worked on it: --dir or --key)",
    );
  }
  if (job.status === JobStatus.Running) {
    await abandonStalled(client, { addresses, jobId, job, node, log });
  }
  const settled = await settle(client, addresses, jobId, log);
  const withdrawn = await withdraw(client, addresses, log);
  return { status: settled.status, refunded: 0n, withdrawn, settlesAt: settled.settlesAt };
}

/**
 * Abandons running `jobId` once its coordinator has stopped closing rounds, as its owner or (with
 * `node`) as that node's operator, and settles its last round's task groups; refuses before.
 * Returns what the abandonment credited the owner.
 */
async function abandonStalled(
  client: ArthaClient,
  params: {
    addresses: ArthaAddresses;
    jobId: Hex;
    job: { currentRound: number; rounds: number };
    node?: Hex;
    log: (line: string) => void;
  },
): Promise<bigint> {
  const { addresses, jobId, log } = params;
  const verb = params.node === undefined ? "cancel" : "settle";
  await refuseLive(client, addresses, jobId, params.job.currentRound, verb);
  const cut = await abandonJob(client, { addresses, jobId, node: params.node });
  // The abandonment closed the round left open; its coordinator is gone, so the caller settles
  // its task groups: only the commits their majorities confirm are paid for that round.
  const settled = await settleRoundGroups(client, { addresses, jobId, round: cut.rounds - 1 });
  if (settled > 0) log(`job ${jobId}: settled ${settled} task group(s) of its last round`);
  log(
    `job ${jobId} abandoned after ${cut.rounds} of ${params.job.rounds} rounds: ` +
      `${formatEther(cut.refund)} ARTH back to its owner now; its nodes' committed rounds (of ` +
      "the last, those a task group's majority confirmed) are paid from " +
      `the other ${formatEther(cut.budget)} ARTH at settlement, and what they are not paid ` +
      "goes back to the owner then",
  );
  return cut.refund;
}

function refuseStranger(
  client: ArthaClient,
  jobId: Hex,
  job: { owner: string; status: number },
): void {
  if (job.status === JobStatus.None) {
    throw new CancelRefusedError(
      "UNKNOWN_JOB",
      `Cannot cancel job ${jobId}: this deployment's jobs contract has no such job`,
    );
  }
  if (job.owner.toLowerCase() !== client.account.address.toLowerCase()) {
    throw new CancelRefusedError(
      "NOT_JOB_OWNER",
      `Cannot cancel job ${jobId}: it belongs to ${job.owner}, not to ${client.account.address}`,
    );
  }
}

/**
 * Cancels an Open job. Its coordinator may assign it between the read and the cancel (a start
 * in flight): the contract's JobManager__WrongStatus(jobId, 1) then means the job started
 * meanwhile, and is said so.
 */
async function cancelOpen(
  client: ArthaClient,
  addresses: ArthaAddresses,
  jobId: Hex,
): Promise<{ refund: bigint }> {
  try {
    return await cancelJob(client, { addresses, jobId });
  } catch (e) {
    if (!(e instanceof ChainCallError) || e.errorName !== "JobManager__WrongStatus") throw e;
    const job = await readJob(client, { addresses, jobId });
    if (job.status !== JobStatus.Running) throw e;
    const stalledAt = await getStalledAt(client, { addresses, jobId });
    throw new CancelRefusedError(
      "JOB_RUNNING",
      `Cannot cancel job ${jobId}: it started meanwhile (its coordinator assigned nodes while ` +
        "this cancelled it); follow it with deno task job status, and if no round closes " +
        `before ${iso(stalledAt)}, cancel it then (it is abandoned, cut to the rounds it ran)`,
      stalledAt,
    );
  }
}

/** Refuses a running job whose coordinator may still close its open round. */
async function refuseLive(
  client: ArthaClient,
  addresses: ArthaAddresses,
  jobId: Hex,
  round: number,
  verb = "cancel",
): Promise<void> {
  const stalledAt = await getStalledAt(client, { addresses, jobId });
  const now = Number((await client.getBlock()).timestamp);
  if (now >= stalledAt) return;
  throw new CancelRefusedError(
    "JOB_RUNNING",
    `Cannot ${verb} job ${jobId}: it is running (round ${round} is open) and its coordinator ` +
      `may still close rounds; if no round closes before ${iso(stalledAt)}, it can be ` +
      "abandoned then (a day past a round's budgeted compute since the last close)",
    stalledAt,
  );
}

/**
 * Settles a completed job once the delay is past and no case is open; says when otherwise.
 * Returns the status it leaves the job in.
 */
async function settle(
  client: ArthaClient,
  addresses: ArthaAddresses,
  jobId: Hex,
  log: (line: string) => void,
): Promise<{ status: number; refund: bigint; settlesAt?: number }> {
  const job = await readJob(client, { addresses, jobId });
  const status = job.status;
  if (status !== JobStatus.Completed) return { status, refund: 0n };
  const readyAt = Number(job.completedAt) + await getSettlementDelay(client, { addresses });
  const now = Number((await client.getBlock()).timestamp);
  if (now < readyAt) {
    log(`job ${jobId} settles from ${iso(readyAt)}: run this again then for the rest`);
    return { status, refund: 0n, settlesAt: readyAt };
  }
  let open = await getOpenCases(client, { addresses, jobId });
  if (open > 0) {
    // The coordinator that would end them may be gone: end what anyone may end now.
    const { ended, openUntil } = await endStaleCases(client, { addresses, jobId });
    if (ended > 0) log(`job ${jobId}: ended ${ended} verification case(s) past their windows`);
    open = await getOpenCases(client, { addresses, jobId });
    if (open > 0) {
      const when = openUntil ? ` (their windows end by ${iso(openUntil)})` : "";
      log(
        `job ${jobId} settles once its ${open} open verification case(s) end${when}: ` +
          "run this again",
      );
      return { status, refund: 0n, settlesAt: Math.max(now, openUntil ?? now) };
    }
  }
  const { rewards, refund } = await finalizeJob(client, { addresses, jobId });
  const paid = rewards.reduce((sum, r) => sum + r.total, 0n);
  log(
    `job ${jobId} settled: ${formatEther(paid)} ARTH to ${rewards.length} node(s), ` +
      `${formatEther(refund)} ARTH back`,
  );
  return { status: JobStatus.Finalized, refund };
}

async function withdraw(
  client: ArthaClient,
  addresses: ArthaAddresses,
  log: (line: string) => void,
): Promise<bigint> {
  if (await getClaimable(client, { addresses }) === 0n) return 0n;
  const { amount } = await withdrawRewards(client, { addresses });
  log(`withdrew ${formatEther(amount)} ARTH to ${client.account.address}`);
  return amount;
}

function iso(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}
