import { encodeFunctionData, type Address, type Hex } from "viem";
import type { AbiOf } from "../chain/artifacts.ts";
import { TxRevertedError, TxVoidedError, TxWouldRevertError, type TxSubmitter } from "../chain/tx-sender.ts";
import type { DecodedLog } from "../chain/watcher.ts";
import type { Journal } from "../journal/journal.ts";
import type { Logger } from "../log.ts";
import { oneLine } from "../errors.ts";

/** The rules' verdict as ModelRegistry.rolloutVerdict reads it (both false when not running). */
export interface RolloutVerdict {
  promotable: boolean;
  abortable: boolean;
}

interface RolloutServiceOptions {
  /** The ModelRegistry's address and ABI (from the build artifacts). */
  registry: Address;
  registryAbi: AbiOf<"ModelRegistry">;
  /** Reads ModelRegistry.rolloutVerdict(modelId) from the chain. */
  verdict: (modelId: Hex) => Promise<RolloutVerdict>;
  sender: Pick<TxSubmitter, "send">;
  /** Keeps the models with a running rollout across restarts (meta key "rollouts"). */
  journal: Pick<Journal, "getMeta" | "setMeta">;
  log: Logger;
  /** The models this runner serves (null: every model). */
  allowedModels: ReadonlySet<Hex> | null;
  /** Whether to send promote and abort transactions at all (config rollouts.autoAct). */
  autoAct: boolean;
}

/** What the service did for one model on one look. */
type RolloutAction = "promoted" | "aborted" | "none" | "lost" | "failed";

const META_KEY = "rollouts";

/**
 * Runners promote and abort staged rollouts as a service (DESIGN §2, staged rollout). For the
 * models this runner serves it follows RolloutStarted and RolloutJobCounted; on each, and on a
 * slow timer (`tick`, for the minimum duration that passes without an event), it reads the
 * contract's verdict and sends promoteRollout or abortRollout when it holds. Every runner does the
 * same, so another one is often first: that revert is expected and logged at debug level only.
 * One look per model runs at a time; a change seen during a look makes it look again.
 */
class RolloutService {
  private readonly opts: RolloutServiceOptions;
  /** Models with a running rollout, as far as the events said. */
  private readonly watched: Set<Hex>;
  private readonly running = new Map<Hex, Promise<RolloutAction>>();
  private readonly again = new Set<Hex>();
  /** With autoAct off: the verdict last reported per model, so a holding rule is logged once. */
  private readonly reported = new Map<Hex, string>();
  private stopped = false;

  constructor(options: RolloutServiceOptions) {
    this.opts = options;
    this.watched = new Set(JSON.parse(options.journal.getMeta(META_KEY) ?? "[]") as Hex[]);
  }

  /** Models with a running rollout that this runner looks after. */
  get models(): Hex[] {
    return [...this.watched];
  }

  private serves(modelId: Hex): boolean {
    return this.opts.allowedModels === null || this.opts.allowedModels.has(modelId);
  }

  private save(): void {
    this.opts.journal.setMeta(META_KEY, JSON.stringify([...this.watched]));
  }

  /** Events of one confirmed block range, in order (the watcher's ranges). */
  onLogs(logs: readonly DecodedLog[]): void {
    const changed = new Set<Hex>();
    let dirty = false;
    for (const l of logs) {
      if (l.address.toLowerCase() !== this.opts.registry.toLowerCase()) continue;
      const modelId = l.args.modelId as Hex | undefined;
      if (modelId === undefined || !this.serves(modelId)) continue;
      switch (l.eventName) {
        case "RolloutStarted":
          if (!this.watched.has(modelId)) dirty = true;
          this.watched.add(modelId);
          changed.add(modelId);
          break;
        case "RolloutJobCounted":
          if (this.watched.has(modelId)) changed.add(modelId);
          break;
        case "RolloutPromoted":
        case "RolloutAborted":
          if (this.watched.delete(modelId)) dirty = true;
          changed.delete(modelId);
          this.opts.log.info(l.eventName === "RolloutPromoted" ? "rollout promoted" : "rollout aborted", {
            modelId,
            candidate: Number(l.args.candidate),
            by: l.args.by,
            reason: l.args.reason,
          });
          break;
        default:
          break;
      }
    }
    if (dirty) this.save();
    for (const modelId of changed) this.kick(modelId);
  }

  /** The slow timer: looks at every watched model again. */
  tick(): void {
    for (const modelId of this.watched) this.kick(modelId);
  }

  /** Looks at one model now (or again after the look in progress); resolves with what it did. */
  kick(modelId: Hex): Promise<RolloutAction> {
    if (this.stopped) return Promise.resolve("none");
    const busy = this.running.get(modelId);
    if (busy) {
      this.again.add(modelId);
      return busy;
    }
    const look = this.look(modelId).finally(() => {
      this.running.delete(modelId);
      if (this.again.delete(modelId) && this.watched.has(modelId)) void this.kick(modelId);
    });
    this.running.set(modelId, look);
    return look;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** Resolves once no look is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private async look(modelId: Hex): Promise<RolloutAction> {
    const log = this.opts.log.child({ modelId });
    let verdict: RolloutVerdict;
    try {
      verdict = await this.opts.verdict(modelId);
    } catch (error) {
      log.warn("cannot read the rollout verdict; the next look retries", { error: oneLine(error) });
      return "failed";
    }
    if (!verdict.promotable && !verdict.abortable) {
      this.reported.delete(modelId);
      return "none";
    }
    if (!this.opts.autoAct) {
      const msg = verdict.abortable
        ? "rollout abortable (rollouts.autoAct is off)"
        : "rollout promotable (rollouts.autoAct is off)";
      if (this.reported.get(modelId) !== msg) log.info(msg);
      this.reported.set(modelId, msg);
      return "none";
    }
    // An abortable rollout is not also promotable (the shares cannot be both within and above
    // their maxima), but should both ever hold, the safer step wins.
    const functionName = verdict.abortable ? "abortRollout" : "promoteRollout";
    const action: RolloutAction = verdict.abortable ? "aborted" : "promoted";
    try {
      const receipt = await this.opts.sender.send({
        jobId: null,
        kind: "rollout",
        to: this.opts.registry,
        data: encodeFunctionData({ abi: this.opts.registryAbi, functionName, args: [modelId] }),
      });
      log.info(
        verdict.abortable
          ? "aborted a rollout whose abort rule holds"
          : "promoted a rollout whose promotion rule holds",
        { tx: receipt.transactionHash, block: Number(receipt.blockNumber) },
      );
      return action;
    } catch (error) {
      if (error instanceof TxWouldRevertError || error instanceof TxRevertedError || error instanceof TxVoidedError) {
        // Another runner (or anyone) was first, or the verdict changed since it was read.
        log.debug("rollout step not needed any more", { step: functionName, error: oneLine(error) });
        return "lost";
      }
      log.warn("rollout step failed; the next look retries", { step: functionName, error: oneLine(error) });
      return "failed";
    }
  }
}

/** The rollout service for a runner (see {@link RolloutService}). */
export function createRolloutService(options: RolloutServiceOptions): RolloutService {
  return new RolloutService(options);
}
