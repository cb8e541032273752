/**
 * Hosts of their own on one machine, for tests: Linux network namespaces joined by a bridge, each
 * with its own address (`ip netns`, root only). The test process stays in the root namespace and
 * reaches the hosts (and they reach it) through the bridge's address; services it runs on
 * 127.0.0.1 are published on that address by TCP forwarders.
 */
import { execFileSync } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";

export interface NetnsHost {
  /** The namespace's name (`ip netns exec <name> ...`). */
  name: string;
  address: string;
  /** The prefix that runs a command on this host. */
  exec: string[];
}

export interface NetnsNetwork {
  /** The root namespace's address on the bridge: where the hosts reach the test process. */
  gateway: string;
  hosts: NetnsHost[];
  /** Publishes 127.0.0.1:`port` of the test process on the gateway address; resolves to the port there. */
  forward(port: number): Promise<number>;
  cleanup(): Promise<void>;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Why namespaces cannot be used here (null: they can). */
export function netnsUnavailable(): string | null {
  if (process.platform !== "linux") return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "network namespaces need root";
  const probe = `cprobe${process.pid % 100000}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return null;
  } catch (error) {
    return `ip netns does not work here: ${
      String((error as { stderr?: Buffer }).stderr ?? (error as Error).message)
        .trim()
        .split("\n")[0]
    }`;
  }
}

/** Creates a bridge and one namespace per name, each with an address on 10.<a>.<b>.0/24. */
export function createNetnsNetwork(names: string[]): NetnsNetwork {
  const tag = (process.pid % 10_000).toString();
  const subnet = `10.${77 + ((process.pid >> 8) % 100)}.${process.pid % 250}`;
  const bridge = `cbr${tag}`;
  const gateway = `${subnet}.1`;
  const hosts: NetnsHost[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const cleanup = async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    for (const h of hosts) {
      try {
        ip("netns", "del", h.name);
      } catch {
        // already gone
      }
    }
    try {
      ip("link", "del", bridge);
    } catch {
      // already gone
    }
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${gateway}/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    names.forEach((name, i) => {
      const ns = `c${tag}-${name}`;
      const outside = `cv${tag}${i}a`;
      const inside = `cv${tag}${i}b`;
      const address = `${subnet}.${11 + i}`;
      ip("netns", "add", ns);
      hosts.push({ name: ns, address, exec: ["ip", "netns", "exec", ns] });
      ip("link", "add", outside, "type", "veth", "peer", "name", inside);
      ip("link", "set", inside, "netns", ns);
      ip("link", "set", outside, "master", bridge);
      ip("link", "set", outside, "up");
      ip("-n", ns, "addr", "add", `${address}/24`, "dev", inside);
      ip("-n", ns, "link", "set", inside, "up");
      ip("-n", ns, "link", "set", "lo", "up");
    });
  } catch (error) {
    void cleanup();
    throw error;
  }
  return {
    gateway,
    hosts,
    forward: (port) =>
      new Promise((resolve, reject) => {
        const server = createServer((client) => {
          const upstream = connect(port, "127.0.0.1");
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("close", () => sockets.delete(s));
            s.on("error", () => s.destroy());
          }
          client.pipe(upstream).pipe(client);
        });
        servers.push(server);
        server.once("error", reject);
        server.listen(0, gateway, () => resolve((server.address() as { port: number }).port));
      }),
    cleanup,
  };
}
