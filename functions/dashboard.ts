/**
 * GET /dashboard — a one-page dashboard: jobs, rounds, nodes, rewards and the live
 * validation-loss curve (polling GET /status), and an inference box that streams from
 * POST /ai/infer.
 */
import { handler, HttpError } from "./_http.ts";
import { DASHBOARD_HTML } from "./_dashboard_html.ts";

/** Creates the dashboard handler (static: the page reads everything from the API). */
export function createDashboard() {
  return handler((req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot show dashboard: use GET");
    return new Response(DASHBOARD_HTML, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        // No framing: another site could overlay the page and steer clicks (Withdraw, Export).
        "content-security-policy": "default-src 'self'; script-src 'unsafe-inline'; " +
          "style-src 'unsafe-inline'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
      },
    });
  });
}

export default { fetch: createDashboard() };
