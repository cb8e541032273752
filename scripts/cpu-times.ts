/**
 * CPU time of groups of processes (each with its descendants) and how busy the machine's cores
 * were, between two snapshots, from Linux's /proc. The fleet burst puts three runners, their
 * inference workers, the chain and the bench on one machine: these say whether its cores, rather
 * than the runners' code paths, set the figure. Elsewhere (no /proc) a snapshot is null.
 */
import { cpus } from "node:os";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux port that matters). */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  at: number;
  /** CPU seconds used so far by each group (its processes and their descendants alive now). */
  seconds: Record<string, number>;
  /** The machine's busy and total ticks (/proc/stat). */
  busy: number;
  total: number;
}

/** The utime + stime ticks and parent of every process alive (pid → [ticks, ppid]). */
function processes(): Map<number, [number, number]> {
  const all = new Map<number, [number, number]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // The command (field 2) may hold spaces and parentheses: fields follow its last ")".
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      all.set(Number(name), [Number(f[11]) + Number(f[12]), Number(f[1])]);
    } catch {
      // Gone meanwhile.
    }
  }
  return all;
}

/** CPU seconds of each group of root pids and their descendants, and the machine's ticks; null without /proc. */
export function cpuSnapshot(groups: Record<string, number[]>): CpuSnapshot | null {
  let all: Map<number, [number, number]>;
  let line: string;
  try {
    all = processes();
    line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  for (const [pid, [, ppid]] of all) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const seconds: Record<string, number> = {};
  for (const [group, roots] of Object.entries(groups)) {
    let ticks = 0;
    const todo = [...roots];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      ticks += all.get(pid)?.[0] ?? 0;
      todo.push(...(children.get(pid) ?? []));
    }
    seconds[group] = ticks / TICKS_PER_SECOND;
  }
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = t[3]! + t[4]!;
  const total = t.reduce((a, b) => a + b, 0);
  return { at: performance.now(), seconds, busy: total - idle, total };
}

/** What each group used between two snapshots, the wall time, and the share of the cores that was busy. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  const used: Record<string, number> = {};
  for (const group of Object.keys(b.seconds)) used[group] = b.seconds[group]! - (a.seconds[group] ?? 0);
  return {
    wallSeconds: (b.at - a.at) / 1000,
    cores: cpus().length,
    busyShare: b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0,
    used,
  };
}
