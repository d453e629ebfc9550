/**
 * A gateway in front of a devnet for the chain client's failure tests: it forwards every JSON-RPC
 * request to the node and hands the node's answer to `alter`, which may answer instead (a lost
 * answer, a lagging replica's). Listens on 127.0.0.1; the test shuts `server` down.
 */
export function rpcGateway(
  rpcUrl: string,
  alter: (method: string, answer: string) => Response | undefined,
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const answer = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await answer.text();
    return alter(JSON.parse(body).method, text) ??
      new Response(text, { status: answer.status, headers: answer.headers });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, server };
}
