/**
 * The worker's terminal view: what a laptop owner reads. A trained round is one line with its
 * loss and speed (off a terminal), a wait is printed once until it changes, a closed round shows
 * the validation loss before and after, and a finished job shows the improvement, the reward and
 * how to withdraw it.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { createWorkerView } from "../../lib/worker/view.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";

const JOB = `0x${"ab".repeat(32)}` as const;

Deno.test("worker view: progress, waits, rounds and the reward", () => {
  // Prepare
  const out: string[] = [];
  const view = createWorkerView({ write: (s) => out.push(s), terminal: false });
  const events: WorkerEvent[] = [
    { kind: "waiting", reason: "job" },
    { kind: "waiting", reason: "job" },
    ...[0, 1].map((step): WorkerEvent => ({
      kind: "step",
      jobId: JOB,
      round: 0,
      step,
      steps: 2,
      loss: 5 - step,
      tokensPerSecond: step * 1234.4,
    })),
    { kind: "submitted", jobId: JOB, round: 0, result: { meanLoss: 4.5, samples: 8 }, bytes: 1000 },
    { kind: "waiting", reason: "round", jobId: JOB, round: 0, rounds: 2, updates: 1, expected: 3 },
    { kind: "waiting", reason: "round", jobId: JOB, round: 0, rounds: 2, updates: 1, expected: 3 },
    {
      kind: "roundClosed",
      jobId: JOB,
      round: 0,
      rounds: 2,
      valLoss: 4.2,
      previousLoss: 5.5,
      updates: 3,
    },
    {
      kind: "finalized",
      jobId: JOB,
      initialValLoss: 5.5,
      finalValLoss: 4.4,
      improvementBps: 2000,
      reward: parseEther("0.5"),
      claimable: parseEther("0.5"),
    },
    {
      kind: "retrying",
      message: "Cannot reach the coordinator at http://c/assign: refused",
      inMs: 4000,
    },
  ];
  // Execute
  for (const e of events) view(e);
  // Assert
  assert.deepEqual(out.map((l) => l.trimEnd()), [
    "waiting for a job (no task for this node yet)",
    "trained round 1 of job 0xabababab… [####################] step 2/2 loss 4.0000, " +
    "1,234 tokens/s",
    "round 1 of job 0xabababab… submitted: mean loss 4.5000, update 1,000 bytes",
    "waiting for round 1/2 of job 0xabababab… to close (1/3 updates in)",
    "round 1/2 of job 0xabababab… closed: validation loss 5.5000 -> 4.2000 (3 updates)",
    "job 0xabababab… finalized: validation loss 5.5000 -> 4.4000 (improved 20.00%); your reward " +
    "0.5 ARTH; 0.5 ARTH to withdraw with `deno task worker withdraw`",
    "Cannot reach the coordinator at http://c/assign: refused; retrying in 4 s",
  ]);
});

Deno.test("worker view: on a terminal the progress bar redraws in place", () => {
  const out: string[] = [];
  const view = createWorkerView({ write: (s) => out.push(s), terminal: true });
  view({ kind: "step", jobId: JOB, round: 1, step: 0, steps: 4, loss: 3 });
  view({ kind: "waiting", reason: "job" });
  assert.match(out[0]!, /^\rround 2 of job 0xabababab… \[#####\.+\] step 1\/4 loss 3\.0000/);
  assert.equal(out[1], "\nwaiting for a job (no task for this node yet)\n");
});

Deno.test("attacker: escape sequences in a coordinator's text never reach the operator's terminal", () => {
  // Prepare: a coordinator's error text that moves the cursor up, erases the line and writes
  // the clipboard (OSC 52), and a status field carrying the same.
  const hostile = "refused\x1b[1A\x1b[2K\x1b]52;c;ZWNobyBwd25lZA==\x07 your reward 100 ARTH";
  const out: string[] = [];
  const view = createWorkerView({ write: (s) => out.push(s), terminal: true });

  // Execute
  view({ kind: "error", message: hostile });
  view({ kind: "retrying", message: hostile, inMs: 1_000 });
  view({
    kind: "waiting",
    reason: "round",
    jobId: JOB,
    round: 0,
    rounds: 2,
    updates: "\x1b[2J" as unknown as number,
    expected: 2,
  });

  // Assert: no control character but the view's own line ends; the text is still readable.
  const text = out.join("");
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(text), JSON.stringify(text));
  assert.match(text, /refused\\x1b\[1A\\x1b\[2K\\x1b\]52;c;ZWNobyBwd25lZA==\\x07 your reward/);
});
