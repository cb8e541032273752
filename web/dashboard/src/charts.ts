import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Snapshot } from "./types.ts";

/** The two charts (jobs over time, latency distribution), created once and fed each snapshot. */
export function createCharts(jobsEl: HTMLElement, latencyEl: HTMLElement) {
  const width = () => Math.max(280, Math.min(560, jobsEl.clientWidth || 480));
  const jobs = new uPlot(
    {
      width: width(),
      height: 200,
      series: [{}, { label: "requested", stroke: "#3b82f6", width: 2 }, { label: "finished", stroke: "#10b981", width: 2 }],
      axes: [{}, { label: "jobs" }],
    },
    [[], [], []],
    jobsEl,
  );
  const bars = uPlot.paths.bars!({ size: [0.8, 60] });
  const latency = new uPlot(
    {
      width: width(),
      height: 200,
      scales: { x: { time: false } },
      series: [{ label: "≥ s" }, { label: "jobs", fill: "#f59e0b88", stroke: "#f59e0b", paths: bars, points: { show: false } }],
      axes: [{ label: "seconds (bucket start)" }, { label: "jobs" }],
    },
    [[], []],
    latencyEl,
  );
  return {
    update(s: Snapshot) {
      const j = s.charts.jobsOverTime;
      jobs.setData([j.minute, j.requested, j.finished]);
      const l = s.charts.latency;
      latency.setData([l.bucket.map((_, i) => i), l.count]);
      latency.axes[0]!.values = () => l.bucket.map(String);
    },
  };
}
