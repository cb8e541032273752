/** Structured logs: one JSON object per line, so an operator's tools can filter by field. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}

export function createLogger(
  opts: {
    level?: Level;
    base?: Record<string, unknown>;
    write?: (line: string) => void;
    /** Applied to every line before it is written, e.g. `urlRedactor([rpcUrl])`, so no field or error message can leak a secret. */
    redact?: (text: string) => string;
  } = {},
): Logger {
  const min = ORDER[opts.level ?? "info"];
  const base = opts.base ?? {};
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const redact = opts.redact ?? ((text: string) => text);
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(redact(JSON.stringify({ t: new Date().toISOString(), level, msg, ...base, ...fields }, jsonSafe)));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}

/**
 * Log lines gathered for one write: every line of a turn of the event loop goes out in one call of
 * `write` at `setImmediate` (or at once when `maxChars` are waiting). A burst logs a few lines per
 * job, and each write to a pipe is a system call on the event loop (issue 14: a tenth of a
 * runner's logging time went to its lines, nine tenths to writing them one by one). `flush` writes
 * what waits now: at exit, lest the turn's last lines be lost. `close` flushes and writes every
 * later line at once: work abandoned at a shutdown timeout may still log before the process exits.
 */
export function lineBatcher(
  write: (text: string) => void,
  maxChars = 64 * 1024,
): { write(line: string): void; flush(): void; close(): void } {
  let lines: string[] = [];
  let chars = 0;
  let scheduled: NodeJS.Immediate | null = null;
  let closed = false;
  const flush = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
    if (lines.length === 0) return;
    const text = `${lines.join("\n")}\n`;
    lines = [];
    chars = 0;
    write(text);
  };
  return {
    write(line) {
      lines.push(line);
      chars += line.length;
      if (closed || chars >= maxChars) flush();
      else scheduled ??= setImmediate(flush);
    },
    flush,
    close() {
      closed = true;
      flush();
    },
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ write: () => {} });

/**
 * A URL fit for logs: scheme, host and port only. RPC providers put API keys in the user info
 * (`https://key@host`), the path (`/v3/<key>`) or the query (`?apikey=`), so all three are
 * dropped; "/***" marks that something was. Text that is not a URL becomes "<invalid URL>".
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "<invalid URL>";
  }
  const hidden =
    u.username !== "" ||
    u.password !== "" ||
    (u.pathname !== "/" && u.pathname !== "") ||
    u.search !== "" ||
    u.hash !== "";
  return `${u.protocol}//${u.host}${hidden ? "/***" : ""}`;
}

/**
 * Replaces each given URL, wherever it appears in a text, by `redactUrl` of it: also the forms
 * libraries print (viem drops only the user info; JSON escapes "/"; `new URL` normalises).
 */
export function urlRedactor(urls: readonly (string | null | undefined)[]): (text: string) => string {
  const pairs: [string, string][] = [];
  const add = (from: string, to: string) => {
    if (from === to || from === "") return;
    pairs.push([from, to]);
    pairs.push([JSON.stringify(from).slice(1, -1), JSON.stringify(to).slice(1, -1)]);
  };
  for (const url of urls) {
    if (!url) continue;
    const safe = redactUrl(url);
    add(url, safe);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      continue;
    }
    add(u.toString(), safe);
    u.username = "";
    u.password = "";
    add(u.toString(), safe);
    // The part that may hold a key, should a library print it apart from the host.
    const tail = `${u.pathname}${u.search}${u.hash}`;
    if (tail.length > 1) add(tail, "/***");
    if (u.search.length > 1) add(u.search, "?***");
  }
  // Longest first, so a full URL is replaced before the path inside it.
  pairs.sort((a, b) => b[0].length - a[0].length);
  if (pairs.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const [from, to] of pairs) out = out.split(from).join(to);
    return out;
  };
}
