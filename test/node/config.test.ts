import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { CONFIG_DEFAULTS, parseHostPort } from "../../node/config.ts";
import { loadConfig, loadRunnerConfig, scrubSecretEnv } from "../../node/config-load.ts";
import { KeyError } from "../../node/cli/keys.ts";
import { ConfigError } from "../../node/errors.ts";
import { jsonStringify } from "../../node/json-stringify.ts";
import { testDir } from "../helpers/temp-dir.ts";

const KEY = `0x${"11".repeat(32)}`;
const dir = testDir("conclave-config-");
function file(content: unknown): string {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  // Amounts in wei are written as strings, as a config file holds them.
  writeFileSync(f, typeof content === "string" ? content : jsonStringify(content));
  return f;
}

describe("runner configuration", function () {
  it("rollouts: autoAct defaults to true; autoAct and intervalMs are validated like the other keys", function () {
    const base = { rpcUrl: "http://a:1", deployment: "d" };
    const env = { CONCLAVE_PROVIDER_KEY: KEY };
    expect(loadConfig({ config: file(base) }, env).rollouts).to.deep.equal({ autoAct: true, intervalMs: 30_000 });
    expect(
      loadConfig({ config: file({ ...base, rollouts: { autoAct: false, intervalMs: 500 } }) }, env).rollouts,
    ).to.deep.equal({ autoAct: false, intervalMs: 500 });
    for (const rollouts of [{ autoAct: "false" }, { autoAct: 0 }, { intervalMs: 10 }, { autoact: true }, true]) {
      expect(() => loadConfig({ config: file({ ...base, rollouts }) }, env), JSON.stringify(rollouts)).to.throw(
        ConfigError,
      );
    }
  });

  it("consumers: fulfil and reclaim default to true; both and turnSeconds are validated like the other keys", function () {
    const base = { rpcUrl: "http://a:1", deployment: "d" };
    const env = { CONCLAVE_PROVIDER_KEY: KEY };
    expect(loadConfig({ config: file(base) }, env).consumers).to.deep.equal({
      fulfil: true,
      reclaim: true,
      turnSeconds: 6,
    });
    expect(
      loadConfig({ config: file({ ...base, consumers: { reclaim: false, turnSeconds: 0 } }) }, env).consumers,
    ).to.deep.equal({ fulfil: true, reclaim: false, turnSeconds: 0 });
    for (const consumers of [{ reclaim: "false" }, { reclaim: 0 }, { fulfil: "yes" }, { reclaimm: true }, false]) {
      expect(() => loadConfig({ config: file({ ...base, consumers }) }, env), JSON.stringify(consumers)).to.throw(
        ConfigError,
      );
    }
  });

  it("layers flags over environment over file over defaults", function () {
    const config = file({
      rpcUrl: "http://file:1",
      deployment: "d.json",
      dataDir: "from-file",
      confirmations: 3,
      http: { port: 7000 },
    });
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
    const c = loadConfig(
      { rpc: "ws://x:1", deployment: "d.json", kuboUrl: "http://127.0.0.1:5001" },
      { CONCLAVE_PROVIDER_KEY: KEY },
    );
    expect(c.ipfs.engine).to.equal("kubo");
    expect(c.ipfs.kuboUrl).to.equal("http://127.0.0.1:5001");
  });

  it("ipfs.gateway (serve) and ipfs.gateways (fetch from): off by default, validated, flags appended", function () {
    const base = { rpcUrl: "http://a:1", deployment: "d" };
    const env = { CONCLAVE_PROVIDER_KEY: KEY };
    const d = loadConfig({ config: file(base) }, env).ipfs;
    expect([d.gateway, d.gateways]).to.deep.equal([null, []]);
    const c = loadConfig(
      {
        config: file({ ...base, ipfs: { gateway: "127.0.0.1:0", gateways: ["http://10.0.0.2:8180"] } }),
        gateways: ["http://[::1]:8181/"],
      },
      env,
    ).ipfs;
    expect(c.gateway).to.equal("127.0.0.1:0");
    expect(c.gateways).to.deep.equal(["http://10.0.0.2:8180", "http://[::1]:8181/"]);
    expect(loadConfig({ config: file({ ...base, ipfs: { gateway: "[::1]:8180" } }) }, env).ipfs.gateway).to.equal(
      "[::1]:8180",
    );
    expect(parseHostPort("[::1]:8180")).to.deep.equal({ host: "::1", port: 8180 });
    expect(parseHostPort("127.0.0.1:0")).to.deep.equal({ host: "127.0.0.1", port: 0 });
    const refused = [
      { gateway: 8180 },
      { gateway: "127.0.0.1" },
      { gateway: "127.0.0.1:70000" },
      { gateway: "http://127.0.0.1:8180" },
      { gateways: "http://10.0.0.2:8180" },
      { gateways: ["ftp://10.0.0.2"] },
      { gateways: ["/ip4/10.0.0.2/tcp/4001"] },
      { engine: "kubo", kuboUrl: "http://127.0.0.1:5001", gateway: "127.0.0.1:0" },
      { engine: "kubo", kuboUrl: "http://127.0.0.1:5001", gateways: ["http://10.0.0.2:8180"] },
    ];
    for (const ipfs of refused)
      expect(() => loadConfig({ config: file({ ...base, ipfs }) }, env), JSON.stringify(ipfs)).to.throw(ConfigError);
  });

  it("takes fallback RPC URLs from flags, the environment (comma-separated) or the file", function () {
    const config = file({ rpcUrl: "http://a:1", deployment: "d", rpcFallbackUrls: ["http://file:1"] });
    expect(loadConfig({ config }, { CONCLAVE_PROVIDER_KEY: KEY }).rpcFallbackUrls).to.deep.equal(["http://file:1"]);
    const env = { CONCLAVE_PROVIDER_KEY: KEY, CONCLAVE_RPC_FALLBACK_URLS: "http://env:1, wss://env:2" };
    expect(loadConfig({ config }, env).rpcFallbackUrls).to.deep.equal(["http://env:1", "wss://env:2"]);
    expect(loadConfig({ config, rpcFallback: ["http://flag:1"] }, env).rpcFallbackUrls).to.deep.equal([
      "http://flag:1",
    ]);
    expect(
      loadConfig({ rpc: "http://a:1", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY }).rpcFallbackUrls,
    ).to.deep.equal([]);
  });

  it("batches contract reads into one eth_call unless the file turns it off (rpcMulticall); only a JSON boolean", function () {
    const env = { CONCLAVE_PROVIDER_KEY: KEY };
    expect(loadConfig({ rpc: "http://a:1", deployment: "d" }, env).rpcMulticall).to.equal(true);
    const off = file({ rpcUrl: "http://a:1", deployment: "d", rpcMulticall: false });
    expect(loadConfig({ config: off }, env).rpcMulticall).to.equal(false);
    const text = file({ rpcUrl: "http://a:1", deployment: "d", rpcMulticall: "false" });
    expect(() => loadConfig({ config: text }, env)).to.throw(ConfigError, "rpcMulticall");
  });

  const bad: [string, () => unknown][] = [
    [
      "a fallback RPC URL equal to rpcUrl",
      () =>
        loadConfig({ rpc: "http://x:1", deployment: "d", rpcFallback: ["http://x:1"] }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    [
      "a fallback RPC URL with a bad scheme",
      () =>
        loadConfig({ rpc: "http://x:1", deployment: "d", rpcFallback: ["ftp://y"] }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    [
      "fallback RPC URLs that are not a list",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", rpcFallbackUrls: "http://y:1" }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    ["no RPC URL", () => loadConfig({ deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY })],
    ["no key", () => loadConfig({ rpc: "http://x:1", deployment: "d" }, {})],
    ["a malformed key", () => loadConfig({ rpc: "http://x:1", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: "0x1234" })],
    [
      "a key in the config file",
      () => loadConfig({ config: file({ privateKey: KEY }) }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    [
      "an unknown key",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", confirmation: 2 }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    ["a bad RPC scheme", () => loadConfig({ rpc: "ftp://x", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY })],
    [
      "a negative number",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", confirmations: -1 }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "a fee that is not an integer string",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", minFee: { ETH: "0.1" } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "a missing config file",
      () => loadConfig({ config: path.join(dir, "nope.json") }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    ["a config file that is not JSON", () => loadConfig({ config: file("{not json") }, { CONCLAVE_PROVIDER_KEY: KEY })],
    [
      "kubo without a URL",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", ipfs: { engine: "kubo" } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    // Finding 16: typos inside nested sections and non-boolean booleans used to be ignored silently.
    ...(
      [
        ["ipfs", { fetchTimeoutMS: 1000 }],
        ["models", { prefech: false }],
        ["inference", { worker: 2 }],
        ["http", { prot: 8080 }],
        ["payouts", { minWithdrawal: {} }],
        ["tx", { confirmTimeout: 1000 }],
      ] as const
    ).map(([section, value]): [string, () => unknown] => [
      `a misspelt key in ${section}`,
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", [section]: value }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ]),
    [
      "a nested section that is not an object",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", inference: 3 }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      'expireStaleJobs as the string "false"',
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", expireStaleJobs: "false" }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "expireStaleJobs as 1",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", expireStaleJobs: 1 }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      'models.prefetch as the string "true"',
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", models: { prefetch: "true" } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "http.host that is not a string",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", http: { host: 127 } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "a shutdownTimeoutMs below 100 ms",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", shutdownTimeoutMs: 5 }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "a boundaryEpsilon of 0.5 quanta",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", inference: { boundaryEpsilon: 0.5 } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      "inference.workers of 0",
      () =>
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", inference: { workers: 0 } }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ),
    ],
    [
      'inference.workers "many" from the environment',
      () =>
        loadConfig(
          { rpc: "http://x:1", deployment: "d" },
          { CONCLAVE_PROVIDER_KEY: KEY, CONCLAVE_INFERENCE_WORKERS: "many" },
        ),
    ],
    [
      "inference.intraOpThreads of 1.5 from a flag",
      () => loadConfig({ rpc: "http://x:1", deployment: "d", intraOpThreads: "1.5" }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    [
      "both a key and a keystore",
      () => loadConfig({ rpc: "http://x:1", deployment: "d", keystore: "k.json" }, { CONCLAVE_PROVIDER_KEY: KEY }),
    ],
    [
      "a keystore given to the synchronous loader",
      () => loadConfig({ rpc: "http://x:1", deployment: "d", keystore: "k.json" }, {}),
    ],
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

  it("sizes the inference pool: auto by default, a count or auto from flags > environment > file", function () {
    const base = { rpc: "http://x:1", deployment: "d" };
    const d = loadConfig(base, { CONCLAVE_PROVIDER_KEY: KEY });
    expect(d.inference).to.include({ workers: "auto", intraOpThreads: "auto" });
    const fromFile = file({ rpcUrl: "http://x:1", deployment: "d", inference: { workers: 3, intraOpThreads: 2 } });
    expect(loadConfig({ config: fromFile }, { CONCLAVE_PROVIDER_KEY: KEY }).inference).to.include({
      workers: 3,
      intraOpThreads: 2,
    });
    const env = { CONCLAVE_PROVIDER_KEY: KEY, CONCLAVE_INFERENCE_WORKERS: "2", CONCLAVE_INTRA_OP_THREADS: "auto" };
    expect(loadConfig({ config: fromFile }, env).inference).to.include({ workers: 2, intraOpThreads: "auto" });
    expect(loadConfig({ config: fromFile, inferenceWorkers: "auto", intraOpThreads: "4" }, env).inference).to.include({
      workers: "auto",
      intraOpThreads: 4,
    });
  });

  it("delivery (batched k = 1 results): 50 items and 0 blocks by default, flags > environment > file, validated", function () {
    const env = { CONCLAVE_PROVIDER_KEY: KEY };
    expect(loadConfig({ rpc: "http://x:1", deployment: "d" }, env).delivery).to.deep.equal({
      maxBatch: 50,
      maxWaitBlocks: 0,
    });
    const fromFile = file({ rpcUrl: "http://x:1", deployment: "d", delivery: { maxBatch: 20, maxWaitBlocks: 2 } });
    expect(loadConfig({ config: fromFile }, env).delivery).to.deep.equal({ maxBatch: 20, maxWaitBlocks: 2 });
    const withEnv = { ...env, CONCLAVE_DELIVERY_MAX_BATCH: "10", CONCLAVE_DELIVERY_MAX_WAIT_BLOCKS: "1" };
    expect(loadConfig({ config: fromFile }, withEnv).delivery).to.deep.equal({ maxBatch: 10, maxWaitBlocks: 1 });
    expect(
      loadConfig({ config: fromFile, deliveryMaxBatch: "1", deliveryMaxWaitBlocks: "0" }, withEnv).delivery,
    ).to.deep.equal({ maxBatch: 1, maxWaitBlocks: 0 });
    for (const delivery of [
      { maxBatch: 0 },
      { maxBatch: 101 },
      { maxBatch: 2.5 },
      { maxWaitBlocks: -1 },
      { maxWaitBlocks: 101 },
      { maxWait: 1 },
      5,
    ]) {
      expect(
        () => loadConfig({ config: file({ rpcUrl: "http://x:1", deployment: "d", delivery }) }, env),
        JSON.stringify(delivery),
      ).to.throw(ConfigError);
    }
    expect(() =>
      loadConfig({ rpc: "http://x:1", deployment: "d" }, { ...env, CONCLAVE_DELIVERY_MAX_BATCH: "lots" }),
    ).to.throw(ConfigError);
  });

  it("names the misspelt nested key", function () {
    expect(() =>
      loadConfig(
        { config: file({ rpcUrl: "http://x:1", deployment: "d", models: { prefech: false } }) },
        { CONCLAVE_PROVIDER_KEY: KEY },
      ),
    )
      .to.throw(ConfigError)
      .with.property("message")
      .that.includes("models.prefech");
  });

  it("accepts every nested key it documents, and the new keys' defaults", function () {
    const c = loadConfig(
      {
        config: file({
          rpcUrl: "http://x:1",
          deployment: "d",
          ...CONFIG_DEFAULTS,
          minFee: { ETH: "0" },
          expireStaleJobs: false,
          shutdownTimeoutMs: 5000,
          models: { ...CONFIG_DEFAULTS.models, prefetch: false },
        }),
      },
      { CONCLAVE_PROVIDER_KEY: KEY },
    );
    expect(c.expireStaleJobs).to.equal("off"); // false means off, true means "own"
    for (const mode of ["own", "all", "off"] as const) {
      expect(
        loadConfig(
          { config: file({ rpcUrl: "http://x:1", deployment: "d", expireStaleJobs: mode }) },
          { CONCLAVE_PROVIDER_KEY: KEY },
        ).expireStaleJobs,
      ).to.equal(mode);
    }
    expect(c.models.prefetch).to.equal(false);
    expect(c.shutdownTimeoutMs).to.equal(5000);
    const d = loadConfig({ rpc: "http://x:1", deployment: "d" }, { CONCLAVE_PROVIDER_KEY: KEY });
    expect(d.shutdownTimeoutMs).to.equal(30_000);
    expect(d.inference.boundaryEpsilon).to.equal(1e-3);
  });

  it("takes the key from an encrypted keystore (flag, env or file), the password from CONCLAVE_KEYSTORE_PASSWORD", async function () {
    this.timeout(20_000);
    const { Wallet, encryptKeystoreJson } = await import("ethers");
    const wallet = new Wallet(KEY);
    // Light scrypt parameters: the test is about where the key comes from, not about key stretching.
    const keystore = path.join(dir, "provider.json");
    writeFileSync(
      keystore,
      await encryptKeystoreJson({ address: wallet.address, privateKey: KEY }, "correct horse", { scrypt: { N: 1024 } }),
    );
    const env = { CONCLAVE_KEYSTORE_PASSWORD: "correct horse" };
    const viaFlag = await loadRunnerConfig({ rpc: "http://x:1", deployment: "d", keystore }, env);
    expect(viaFlag.privateKey).to.equal(KEY);
    const viaEnv = await loadRunnerConfig(
      { rpc: "http://x:1", deployment: "d" },
      { ...env, CONCLAVE_KEYSTORE: keystore },
    );
    expect(viaEnv.privateKey).to.equal(KEY);
    const viaFile = await loadRunnerConfig(
      { config: file({ rpcUrl: "http://x:1", deployment: "d", keystore: "provider.json" }) },
      env,
    );
    expect(viaFile.privateKey).to.equal(KEY);
    const asked: string[] = [];
    const viaPrompt = await loadRunnerConfig(
      { rpc: "http://x:1", deployment: "d", keystore },
      {},
      { password: async (f) => (asked.push(f), "correct horse") },
    );
    expect(viaPrompt.privateKey).to.equal(KEY);
    expect(asked).to.deep.equal([keystore]);
    let error: unknown;
    await loadRunnerConfig(
      { rpc: "http://x:1", deployment: "d", keystore },
      { CONCLAVE_KEYSTORE_PASSWORD: "wrong horse" },
    ).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(KeyError);
  });

  it("validates the whole configuration before asking for a keystore password", async function () {
    let asked = false;
    let error: unknown;
    await loadRunnerConfig(
      { rpc: "ftp://x", deployment: "d", keystore: "k.json" },
      {},
      { password: async () => ((asked = true), "") },
    ).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ConfigError);
    expect(asked).to.equal(false);
  });

  it("scrubs the key and the keystore password from an environment, and nothing else", function () {
    const env: NodeJS.ProcessEnv = {
      CONCLAVE_PROVIDER_KEY: KEY,
      CONCLAVE_KEYSTORE_PASSWORD: "pw",
      CONCLAVE_KEY: KEY,
      CONCLAVE_RPC_URL: "http://x:1",
      PATH: "/bin",
    };
    scrubSecretEnv(env);
    expect(env).to.deep.equal({ CONCLAVE_RPC_URL: "http://x:1", PATH: "/bin" });
  });
});
