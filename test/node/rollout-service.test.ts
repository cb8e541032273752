import { expect } from "chai";
import {
  decodeFunctionData,
  keccak256,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import {
  TxNotConfirmedError,
  TxRevertedError,
  TxWouldRevertError,
  type TxRequest,
} from "../../node/chain/tx-sender.ts";
import type { DecodedLog } from "../../node/chain/watcher.ts";
import { createLogger } from "../../node/log.ts";
import { createRolloutService, type RolloutVerdict } from "../../node/rollouts/service.ts";

const REGISTRY = "0x00000000000000000000000000000000000000aa" as Address;
const A = keccak256(toHex("model-a"));
const B = keccak256(toHex("model-b"));
const abi = loadArtifact("ModelRegistry").abi;

const log = (eventName: string, args: Record<string, unknown>, address: Address = REGISTRY) =>
  ({ address, eventName, args, blockNumber: 1n, logIndex: 0 }) as unknown as DecodedLog;

/** The service with a scripted chain: verdicts per model, a sender that records calls or throws. */
function harness(
  opts: { autoAct?: boolean; allowed?: Hex[] | null; sendError?: () => Error; meta?: Map<string, string> } = {},
) {
  const verdicts = new Map<Hex, RolloutVerdict>();
  const sent: { functionName: string; modelId: Hex; kind: string }[] = [];
  const lines: { level: string; msg: string }[] = [];
  const meta = opts.meta ?? new Map<string, string>();
  const service = createRolloutService({
    registry: REGISTRY,
    registryAbi: abi,
    verdict: async (modelId) => verdicts.get(modelId) ?? { promotable: false, abortable: false },
    sender: {
      send: async (req: TxRequest) => {
        if (opts.sendError) throw opts.sendError();
        const { functionName, args } = decodeFunctionData({ abi, data: req.data });
        sent.push({ functionName, modelId: (args as readonly [Hex])[0], kind: req.kind });
        return { transactionHash: "0x01", blockNumber: 1n, status: "success" } as unknown as TransactionReceipt;
      },
    },
    journal: { getMeta: (k) => meta.get(k) ?? null, setMeta: (k, v) => void meta.set(k, v) },
    log: createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l) as { level: string; msg: string }) }),
    allowedModels: opts.allowed === undefined ? null : opts.allowed === null ? null : new Set(opts.allowed),
    autoAct: opts.autoAct ?? true,
  });
  return { service, verdicts, sent, lines, meta };
}

describe("rollout service (runners promote and abort as a service)", function () {
  it("on RolloutStarted / RolloutJobCounted reads the verdict and promotes or aborts when it holds", async function () {
    const h = harness();
    h.service.onLogs([log("RolloutStarted", { modelId: A, candidate: 2 })]);
    await h.service.idle();
    expect(h.sent).to.deep.equal([]); // not promotable yet
    h.verdicts.set(A, { promotable: true, abortable: false });
    h.service.onLogs([log("RolloutJobCounted", { modelId: A, version: 2 })]);
    await h.service.idle();
    expect(h.sent).to.deep.equal([{ functionName: "promoteRollout", modelId: A, kind: "rollout" }]);
    h.verdicts.set(A, { promotable: false, abortable: true });
    expect(await h.service.kick(A)).to.equal("aborted");
    expect(h.sent.at(-1)).to.deep.include({ functionName: "abortRollout" });
  });

  it("the slow timer looks at every running rollout (a minimum duration passes without an event)", async function () {
    const h = harness();
    h.service.onLogs([
      log("RolloutStarted", { modelId: A, candidate: 2 }),
      log("RolloutStarted", { modelId: B, candidate: 5 }),
    ]);
    await h.service.idle();
    h.verdicts.set(B, { promotable: true, abortable: false });
    h.service.tick();
    await h.service.idle();
    expect(h.sent.map((s) => s.modelId)).to.deep.equal([B]);
  });

  it("forgets ended rollouts, ignores other contracts' events and models the runner does not serve", async function () {
    const h = harness({ allowed: [A] });
    h.verdicts.set(A, { promotable: true, abortable: false });
    h.verdicts.set(B, { promotable: true, abortable: false });
    h.service.onLogs([
      log("RolloutStarted", { modelId: B, candidate: 2 }),
      log("RolloutStarted", { modelId: A, candidate: 2 }, zeroAddress),
      log("RolloutJobCounted", { modelId: A, version: 2 }),
    ]);
    await h.service.idle();
    expect(h.sent).to.deep.equal([]);
    expect(h.service.models).to.deep.equal([]);
    h.service.onLogs([
      log("RolloutStarted", { modelId: A, candidate: 2 }),
      log("RolloutPromoted", { modelId: A, candidate: 2, by: zeroAddress }),
    ]);
    await h.service.idle();
    expect(h.service.models).to.deep.equal([]);
    expect(h.sent).to.deep.equal([]);
  });

  it("keeps the running rollouts in the journal across restarts", async function () {
    const meta = new Map<string, string>();
    harness({ meta }).service.onLogs([log("RolloutStarted", { modelId: A, candidate: 2 })]);
    const again = harness({ meta });
    expect(again.service.models).to.deep.equal([A]);
    again.verdicts.set(A, { promotable: true, abortable: false });
    again.service.tick();
    await again.service.idle();
    expect(again.sent).to.have.length(1);
  });

  it("another runner first (a revert, before or after sending) is normal: debug only; other failures warn and retry", async function () {
    for (const error of [
      () => new TxWouldRevertError("would revert", "ModelRegistryNoRunningRollout"),
      () => new TxRevertedError("reverted"),
    ]) {
      const h = harness({ sendError: error });
      h.service.onLogs([log("RolloutStarted", { modelId: A, candidate: 2 })]);
      await h.service.idle();
      h.verdicts.set(A, { promotable: true, abortable: false });
      expect(await h.service.kick(A)).to.equal("lost");
      expect(h.lines.filter((l) => l.level !== "debug" && l.level !== "info")).to.deep.equal([]);
    }
    const h = harness({ sendError: () => new TxNotConfirmedError("rpc down") });
    h.verdicts.set(A, { promotable: true, abortable: false });
    expect(await h.service.kick(A)).to.equal("failed");
    expect(h.lines.filter((l) => l.level === "warn")).to.have.length(1);
  });

  it("with autoAct off it reports a verdict that holds but sends nothing", async function () {
    const h = harness({ autoAct: false });
    h.verdicts.set(A, { promotable: true, abortable: false });
    h.service.onLogs([log("RolloutStarted", { modelId: A, candidate: 2 })]);
    await h.service.idle();
    expect(h.sent).to.deep.equal([]);
    h.service.tick();
    await h.service.idle();
    expect(h.lines.filter((l) => l.msg === "rollout promotable (rollouts.autoAct is off)")).to.have.length(1); // once, not on every look
  });
});
