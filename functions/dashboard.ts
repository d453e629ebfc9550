/**
 * GET /dashboard — a one-page dashboard: jobs, rounds, nodes, rewards and the live
 * validation-loss curve (polling GET /status), and an inference box that streams from
 * POST /ai/infer.
 */
import { createHash } from "node:crypto";
import { handler, HttpError } from "./_http.ts";
import { DASHBOARD_HTML } from "./_dashboard_html.ts";

/** CSP source naming the exact text of the page's one `<tag>` element. */
function inlineHash(tag: "script" | "style"): string {
  const open = DASHBOARD_HTML.match(new RegExp(`<${tag}[^>]*>`))!;
  const start = open.index! + open[0].length;
  const text = DASHBOARD_HTML.slice(start, DASHBOARD_HTML.indexOf(`</${tag}>`, start));
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

/**
 * Only the page's own script and style run: found in the browser audit, 'unsafe-inline' let any
 * markup ever injected into this origin run as script, beside the browser node's key.
 */
const POLICY = `default-src 'self'; script-src ${inlineHash("script")}; ` +
  `style-src ${inlineHash("style")}; frame-ancestors 'none'`;

/** Creates the dashboard handler (static: the page reads everything from the API). */
export function createDashboard() {
  return handler((req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot show dashboard: use GET");
    return new Response(DASHBOARD_HTML, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        // No framing: another site could overlay the page and steer clicks (Withdraw, Export).
        "content-security-policy": POLICY,
        "x-frame-options": "DENY",
      },
    });
  });
}

export default { fetch: createDashboard() };
