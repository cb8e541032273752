import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The page's sources (Vite project) and where its build goes. */
const DASHBOARD_SRC = path.join(ROOT, "web", "dashboard");
const DASHBOARD_DIST = path.join(ROOT, "dist", "dashboard");

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** True when the built page is missing or older than its sources. */
function dashboardStale(): boolean {
  const index = path.join(DASHBOARD_DIST, "index.html");
  return !existsSync(index) || (existsSync(DASHBOARD_SRC) && newest(DASHBOARD_SRC) > statSync(index).mtimeMs);
}

/**
 * The built page's folder, building it first with Vite when it is missing or stale (Vite is a
 * development dependency: an installed copy ships the built folder instead).
 */
export async function ensureDashboardBuilt(log: (line: string) => void = () => {}): Promise<string> {
  if (!dashboardStale()) return DASHBOARD_DIST;
  if (!existsSync(DASHBOARD_SRC))
    throw new Error(`the dashboard is not built (${DASHBOARD_DIST}) and its sources are missing`);
  log("building the dashboard page (vite) ...");
  const { build } = await import("vite");
  await build({ configFile: path.join(DASHBOARD_SRC, "vite.config.ts"), logLevel: "warn" });
  return DASHBOARD_DIST;
}
