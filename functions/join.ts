/**
 * GET /join — any browser tab as a worker: the page, its script, the Web Worker bundle of the
 * kernel and training code (built from lib/browser/ by `deno task build:browser`, committed), the
 * kernel's own kernel.wasm and the aggregation kernels' aggregate.wasm (a tab's cluster tasks),
 * the same bytes the Deno worker runs. Read once, then served from
 * memory with their keccak256 as the ETag.
 */
import { handler, HttpError } from "./_http.ts";
import { digestHex } from "../lib/crypto/digest.ts";

/** Served files: route tail -> file and content type. */
const FILES: Record<string, { url: URL; type: string }> = {
  "": { url: new URL("./_join/index.html", import.meta.url), type: "text/html; charset=utf-8" },
  "join.js": { url: new URL("./_join/join.js", import.meta.url), type: "text/javascript" },
  "worker.js": { url: new URL("./_join/worker.js", import.meta.url), type: "text/javascript" },
  "kernel.wasm": {
    url: new URL("../kernel/wasm/build/kernel.wasm", import.meta.url),
    type: "application/wasm",
  },
  "aggregate.wasm": {
    url: new URL("../lib/strategy/wasm/aggregate.wasm", import.meta.url),
    type: "application/wasm",
  },
};

/**
 * Scripts from this origin only; WebAssembly compiled from fetched bytes, no eval. The API is this
 * origin; the chain RPC that GET /info names is another (any https, or a local devnet).
 */
// No framing: another site could overlay the page and steer the clicks that join and sign.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
  "worker-src 'self'; style-src 'unsafe-inline'; " +
  "connect-src 'self' https: http://127.0.0.1:* http://localhost:*; frame-ancestors 'none'";

/** Creates the /join handler. */
export function createJoin() {
  const cache = new Map<string, Promise<{ bytes: Uint8Array; etag: string }>>();
  const load = (name: string, url: URL) => {
    let loaded = cache.get(name);
    if (!loaded) {
      loaded = Deno.readFile(url).then((bytes) => ({ bytes, etag: `"${digestHex(bytes)}"` }));
      loaded.catch(() => cache.delete(name));
      cache.set(name, loaded);
    }
    return loaded;
  };
  return handler(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot serve join page: use GET");
    const path = new URL(req.url).pathname;
    if (path === "/join") return Response.redirect(new URL("/join/", req.url), 308);
    const name = path.replace(/^\/join\/?/, "").replace(/^index\.html$/, "");
    const file = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (!file) throw new HttpError(404, `Cannot serve ${path}: no such file`);
    const { bytes, etag } = await load(name, file.url);
    if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304 });
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": file.type,
        "content-security-policy": CSP,
        "x-frame-options": "DENY",
        "cache-control": "no-cache",
        etag,
      },
    });
  });
}

export default { fetch: createJoin() };
