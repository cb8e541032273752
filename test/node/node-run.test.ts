import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { encryptKeystoreJson, Wallet } from "ethers";
import { nodeCommands, ShutdownTimeoutError, stopWithin } from "../../node/cli/commands/node.ts";
import type { CommandContext } from "../../node/cli/command.ts";
import { RpcUnreachableError } from "../../node/errors.ts";
import { createLogger, redactUrl, urlRedactor } from "../../node/log.ts";
import { rejection } from "../helpers/errors.ts";
import { testDir } from "../helpers/temp-dir.ts";

const KEY = `0x${"22".repeat(32)}`;
/** A URL the way hosted RPC providers hand them out: secrets in the user info, the path and the query. */
const SECRET_RPC = "http://user:hunter2@127.0.0.1:1/v3/SECRETPATHKEY?apikey=SECRETQUERYKEY";
const SECRETS = ["hunter2", "SECRETPATHKEY", "SECRETQUERYKEY"];

describe("redacting URLs", function () {
  it("keeps scheme, host and port, and drops user info, path and query", function () {
    expect(redactUrl(SECRET_RPC)).to.equal("http://127.0.0.1:1/***");
    expect(redactUrl("wss://eth.example.org/ws/abc")).to.equal("wss://eth.example.org/***");
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
    expect(redactUrl("http://127.0.0.1:5001/")).to.equal("http://127.0.0.1:5001");
    expect(redactUrl("not a url SECRET")).to.equal("<invalid URL>");
  });

  it("removes a URL's secrets from every line a logger writes, in the forms libraries print", function () {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), redact: urlRedactor([SECRET_RPC, null]) });
    log.info("runner started", { rpc: SECRET_RPC });
    // viem quotes the URL without its user info; some clients print only the path.
    log.warn("request failed", {
      error: new Error(`HTTP request failed. URL: http://127.0.0.1:1/v3/SECRETPATHKEY?apikey=SECRETQUERYKEY`),
    });
    log.child({ x: 1 }).error("odd", { path: "/v3/SECRETPATHKEY?apikey=SECRETQUERYKEY" });
    expect(lines).to.have.length(3);
    for (const line of lines) for (const s of SECRETS) expect(line).to.not.include(s);
    expect(lines[0]).to.include("http://127.0.0.1:1/***");
  });
});

describe("conclave node run", function () {
  const dir = testDir("conclave-node-run-");
  const deployment = path.join(dir, "deployment.json");
  writeFileSync(deployment, JSON.stringify({ chainId: 1, contracts: {} }));
  const saved: Record<string, string | undefined> = {};
  const touched = ["CONCLAVE_PROVIDER_KEY", "CONCLAVE_KEYSTORE", "CONCLAVE_KEYSTORE_PASSWORD", "CONCLAVE_RPC_URL"];
  beforeEach(function () {
    for (const k of touched) saved[k] = process.env[k];
  });
  afterEach(function () {
    for (const k of touched) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  const ctx = (values: CommandContext["values"]): CommandContext => ({
    values,
    positionals: [],
    out: { note: () => {} } as unknown as CommandContext["out"],
    session: () => Promise.reject(new Error("node run opens no session")),
  });

  it("removes the provider key from its environment and keeps the RPC URL's secrets out of its error", async function () {
    process.env.CONCLAVE_PROVIDER_KEY = KEY;
    // Nothing listens on port 1: the runner fails while connecting, after the key was read.
    const error = await rejection(() =>
      nodeCommands["node run"]!.run(ctx({ rpc: SECRET_RPC, deployment, "data-dir": path.join(dir, "a") })),
    );
    expect(error).to.be.instanceOf(RpcUnreachableError);
    for (const s of SECRETS) expect((error as Error).message).to.not.include(s);
    expect(process.env.CONCLAVE_PROVIDER_KEY).to.equal(undefined);
  });

  it("reads the key from --keystore with the password from CONCLAVE_KEYSTORE_PASSWORD, then drops the password", async function () {
    const keystore = path.join(dir, "provider.json");
    writeFileSync(
      keystore,
      await encryptKeystoreJson({ address: new Wallet(KEY).address, privateKey: KEY }, "correct horse", {
        scrypt: { N: 1024 },
      }),
    );
    delete process.env.CONCLAVE_PROVIDER_KEY;
    process.env.CONCLAVE_KEYSTORE_PASSWORD = "correct horse";
    const error = await rejection(() =>
      nodeCommands["node run"]!.run(
        ctx({ rpc: "http://127.0.0.1:1", deployment, keystore, "data-dir": path.join(dir, "b") }),
      ),
    );
    // Got as far as the RPC: the keystore was decrypted.
    expect(error).to.be.instanceOf(RpcUnreachableError);
    expect(process.env.CONCLAVE_KEYSTORE_PASSWORD).to.equal(undefined);
  });
});

describe("stopping within shutdownTimeoutMs", function () {
  it("returns once in-flight work is done", async function () {
    let stopped = false;
    await stopWithin(async () => {
      await new Promise((r) => setTimeout(r, 5));
      stopped = true;
    }, 10_000);
    expect(stopped).to.equal(true);
  });

  it("gives up with ShutdownTimeoutError when the work never finishes", async function () {
    const error = await rejection(() => stopWithin(() => new Promise<void>(() => {}), 50));
    expect(error).to.be.instanceOf(ShutdownTimeoutError);
  });

  it("gives up at once on a second signal", async function () {
    const error = await rejection(() => stopWithin(() => new Promise<void>(() => {}), 600_000, Promise.resolve()));
    expect(error).to.be.instanceOf(ShutdownTimeoutError);
  });

  it("passes on a failure of stop itself", async function () {
    const boom = new RpcUnreachableError("down");
    expect(await rejection(() => stopWithin(() => Promise.reject(boom), 10_000))).to.equal(boom);
  });
});
