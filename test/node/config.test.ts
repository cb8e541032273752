import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { loadConfig } from "../../node/config.ts";
import { ConfigError } from "../../node/errors.ts";

const KEY = `0x${"11".repeat(32)}`;
const dir = mkdtempSync(path.join(tmpdir(), "conclave-config-"));
function file(content: unknown): string {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, typeof content === "string" ? content : JSON.stringify(content));
  return f;
}

describe("runner configuration", function () {
  it("layers flags over environment over file over defaults", function () {
    const config = file({ rpcUrl: "http://file:1", deployment: "d.json", dataDir: "from-file", confirmations: 3, http: { port: 7000 } });
    const env = { CONCLAVE_PROVIDER_KEY: KEY, CONCLAVE_RPC_URL: "http://env:2", CONCLAVE_HTTP_PORT: "7001" };
    const c = loadConfig({ config, httpPort: "7002" }, env);
    expect(c.rpcUrl).to.equal("http://env:2"); // env beats file
    expect(c.http.port).to.equal(7002); // flag beats env
    expect(c.confirmations).to.equal(3); // file beats default
    expect(c.pollIntervalMs).to.equal(250); // default
    expect(c.dataDir).to.equal(path.join(dir, "from-file")); // relative to the config file
    expect(c.deployment).to.equal(path.join(dir, "d.json"));
    expect(c.privateKey).to.equal(KEY);
  });

  it("switches to Kubo when a Kubo URL is given", function () {
    const c = loadConfig({ rpc: "ws://x:1", deployment: "d.json", kuboUrl: "http://127.0.0.1:5001" }, { CONCLAVE_PROVIDER_KEY: KEY });
    expect(c.ipfs.engine).to.equal("kubo");
    expect(c.ipfs.kuboUrl).to.equal("http://127.0.0.1:5001");
  });

  const bad: [string, () => unknown][] = [
    ["no RPC URL", () => loadConfig({ deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["no key", () => loadConfig({ rpc: "http://x:1", deployment: "d" }, {})],
    ["a malformed key", () => loadConfig({ rpc: "http://x:1", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: "0x1234" })],
    ["a key in the config file", () => loadConfig({ config: file({ privateKey: KEY }) }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["an unknown key", () => loadConfig({ config: file({ rpcUrl: "http://x:1", deployment: "d", confirmation: 2 }) }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["a bad RPC scheme", () => loadConfig({ rpc: "ftp://x", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["a negative number", () => loadConfig({ config: file({ rpcUrl: "http://x:1", deployment: "d", confirmations: -1 }) }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["a fee that is not an integer string", () => loadConfig({ config: file({ rpcUrl: "http://x:1", deployment: "d", minFee: { ETH: "0.1" } }) }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["a missing config file", () => loadConfig({ config: path.join(dir, "nope.json") }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["a config file that is not JSON", () => loadConfig({ config: file("{not json") }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["kubo without a URL", () => loadConfig({ config: file({ rpcUrl: "http://x:1", deployment: "d", ipfs: { engine: "kubo" } }) }, { CONCLAVE_PROVIDER_KEY: KEY })],
  ];
  for (const [what, load] of bad) {
    it(`refuses ${what} with a one-line ConfigError`, function () {
      let error: unknown;
      try {
        load();
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.not.include("\n");
    });
  }
});
