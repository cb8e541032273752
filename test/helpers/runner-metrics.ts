import type { RunnerProcess } from "./devnet.ts";

/** The sum of a Prometheus series on a runner's /metrics, over the lines with these labels. */
export async function runnerMetric(
  r: RunnerProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${r.http}/metrics`)).text();
  return text
    .split("\n")
    .filter(
      (l) =>
        (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) &&
        Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    )
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}
