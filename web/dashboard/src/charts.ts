import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Snapshot } from "./types.ts";

/** The two charts (jobs over time, latency distribution), created once and fed each snapshot. */
export function createCharts(jobsEl: HTMLElement, latencyEl: HTMLElement) {
  const width = () => Math.max(460, Math.min(620, jobsEl.clientWidth || 520));
  const jobs = new uPlot(
    {
      width: width(),
      height: 200,
      legend: { live: false },
      series: [
        {},
        { label: "requested", stroke: "#3b82f6", width: 2 },
        { label: "finished", stroke: "#10b981", width: 2 },
      ],
      axes: [{}, { label: "jobs" }],
    },
    [[], [], []],
    jobsEl,
  );
  // Latency buckets are drawn at indexes 0..n-1 and labelled with their lower bounds.
  let buckets: number[] = [];
  const latency = new uPlot(
    {
      width: width(),
      height: 200,
      legend: { live: false },
      scales: { x: { time: false, range: () => [-0.5, Math.max(1, buckets.length) - 0.5] } },
      series: [
        { label: "from s" },
        {
          label: "jobs",
          fill: "#f59e0b88",
          stroke: "#f59e0b",
          paths: uPlot.paths.bars!({ size: [0.8, 60] }),
          points: { show: false },
        },
      ],
      axes: [
        {
          label: "seconds (bucket start)",
          splits: () => buckets.map((_, i) => i),
          values: (_u, splits) => splits.map((i) => String(buckets[i] ?? "")),
        },
        { label: "jobs" },
      ],
    },
    [[], []],
    latencyEl,
  );
  return {
    update(s: Snapshot) {
      const j = s.charts.jobsOverTime;
      jobs.setData([j.minute, j.requested, j.finished]);
      buckets = s.charts.latency.bucket;
      latency.setData([buckets.map((_, i) => i), s.charts.latency.count]);
    },
  };
}
