/**
 * A coordinator's error text from the attacker's side (found in the worker audit): a 500 whose
 * body is one 16 MiB line, retried every poll, reached the operator's log whole each time and
 * filled the disk. The worker reads a short prefix of an error body and prints at most
 * MAX_PRINTABLE_CHARS of any line, saying it was cut.
 */
import assert from "node:assert/strict";
import {
  CoordinatorClient,
  CoordinatorError,
  MAX_ERROR_BODY_BYTES,
} from "../../lib/worker/client.ts";
import { createWorkerView } from "../../lib/worker/view.ts";
import { MAX_PRINTABLE_CHARS, printable } from "../../lib/network/printable.ts";

/** A body of `size` bytes of "x", counting what the reader pulled of it. */
function counted(size: number) {
  let pulled = 0;
  const chunk = new TextEncoder().encode("x".repeat(65_536));
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= size) return controller.close();
      pulled += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { body, pulled: () => pulled };
}

Deno.test("attacker: a coordinator's 16 MiB error line is read as a short prefix and logged cut", async () => {
  // Prepare: a coordinator answering 500 with a 16 MiB line.
  const line = counted(16 * 2 ** 20 - 100);
  const client = new CoordinatorClient(() =>
    Promise.resolve(new Response(line.body, { status: 500 }))
  );
  let written = "";
  const view = createWorkerView({ write: (s) => written += s, terminal: false });

  // Execute: what Worker.run does with a non-transient failure.
  const e = await client.getJson("/assign?node=0x").then(
    () => new Error("answered"),
    (e) => e as Error,
  );
  view({ kind: "error", message: e.message.split("\n")[0]! });

  // Assert: a prefix read (the stream pulls a chunk ahead), the message short, the log line cut and saying so.
  assert.ok(line.pulled() <= MAX_ERROR_BODY_BYTES + 2 * 65_536, `pulled ${line.pulled()}`);
  assert.ok(e.message.length <= MAX_ERROR_BODY_BYTES + 100, `message ${e.message.length}`);
  assert.ok(written.length <= MAX_PRINTABLE_CHARS + 100, `wrote ${written.length}`);
  assert.match(written, /characters, cut\)/);
});

Deno.test("attacker: a coded error body still yields its code when read as a prefix", async () => {
  // Prepare
  const body = JSON.stringify({ error: { code: "ROUND_NOT_OPEN", message: "round 3 closed" } });
  const client = new CoordinatorClient(() => Promise.resolve(new Response(body, { status: 409 })));

  // Execute
  const e = await client.postJson("/aggregate/update", "{}").then(() => undefined, (e) => e);

  // Assert
  assert.ok(e instanceof CoordinatorError);
  assert.equal(e.code, "ROUND_NOT_OPEN");
  assert.match(e.message, /409 round 3 closed/);
});

Deno.test("printable: a long line of control characters stays within the cap once escaped", () => {
  const out = printable("\x1b".repeat(MAX_PRINTABLE_CHARS));
  assert.ok(out.length <= MAX_PRINTABLE_CHARS + 40, `${out.length}`);
  assert.ok(!out.includes("\x1b"));
  assert.match(out, /\(1000 characters, cut\)$/);
  assert.equal(printable("short\nline"), "short\\x0aline");
});
