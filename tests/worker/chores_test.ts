/**
 * lib/worker/chores.ts: the chores a busy worker may not put off run while it waits, at most every
 * `everyMs`, and a failed run is reported without failing the work under way.
 */
import assert from "node:assert/strict";
import { Chores } from "../../lib/worker/chores.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("chores run while a long await is under way, not more often than everyMs", async () => {
  let runs = 0;
  const chores = new Chores({
    everyMs: 20,
    run: () => Promise.resolve(void runs++),
    report: () => {},
  });
  assert.equal(await chores.during(sleep(110).then(() => "done")), "done");
  assert.ok(runs >= 2 && runs <= 6, `${runs} runs in 110 ms at 20 ms`);
  const before = runs;
  chores.done();
  await chores.due(); // just done: not due
  assert.equal(runs, before);
});

Deno.test("a failed run is reported and the work it ran beside still settles", async () => {
  const reported: string[] = [];
  const chores = new Chores({
    everyMs: 0,
    run: () => Promise.reject(new Error("chain away\nstack")),
    report: (m) => reported.push(m),
  });
  await assert.rejects(chores.during(sleep(30).then(() => Promise.reject(new Error("work")))), {
    message: "work",
  });
  assert.ok(reported.length > 0);
  assert.equal(reported[0], "chain away");
});

Deno.test("victim: a body the coordinator trickles does not keep the chores from running", async () => {
  // A coordinator holding a body open for minutes would otherwise keep the node from its
  // heartbeat and its challenge answers (both slashed when missed).
  let runs = 0;
  const chores = new Chores({
    everyMs: 10,
    run: () => Promise.resolve(void runs++),
    report: () => {},
  });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sleep(60);
      controller.enqueue(new Uint8Array([1]));
      controller.close();
    },
  });
  const res = chores.patientBody(new Response(body, { status: 201 }));
  assert.equal(res.status, 201);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([1]));
  assert.ok(runs >= 2, `${runs} runs while the body trickled`);
});
