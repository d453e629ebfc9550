/**
 * A gateway in front of a devnet for the chain client's failure tests: it forwards every JSON-RPC
 * request to the node and hands the node's answer to `alter`, which may answer instead (a lost
 * answer, a lagging replica's); `alter` also gets the request's params. Listens on 127.0.0.1; the
 * test shuts `server` down.
 */
export function rpcGateway(
  rpcUrl: string,
  alter: (method: string, answer: string, params: unknown[]) => Response | undefined,
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const answer = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await answer.text();
    const { method, params } = JSON.parse(body);
    return alter(method, text, params ?? []) ??
      new Response(text, { status: answer.status, headers: answer.headers });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, server };
}
