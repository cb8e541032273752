import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "../../node/devnet/local-rpc.ts";

/**
 * A TCP proxy on 127.0.0.1 in front of the JSON-RPC node, so a test can cut a runner's
 * connection to the chain (close every socket and refuse new ones) and restore it later.
 */
export async function startProxy(
  targetPort: number,
): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void>; stop(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", () => resolve());
    });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
    });
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut: close, restore: listen, stop: close };
}
