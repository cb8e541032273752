/**
 * Headless Chromium for the dashboard's browser tests and benchmark: Debian's /usr/bin/chromium
 * driven by playwright-core (scripts/ensure-chromium.sh installs it where missing).
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";

const CHROMIUM = process.env.CONCLAVE_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];

/** Why the browser tests cannot run here, or null when they can. */
export function browserMissing(): string | null {
  return existsSync(CHROMIUM)
    ? null
    : `${CHROMIUM} is not installed (apt-get install chromium, as root; scripts/ensure-chromium.sh does it)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** The gitignored folder the browser tests save screenshots to (test-artifacts/<name>). */
export function artifactsDir(name: string): string {
  const dir = path.resolve(import.meta.dirname, "../../test-artifacts", name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
