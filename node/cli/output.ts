import { jsonStringify } from "../json-stringify.ts";

/**
 * What a command shows: results on stdout (a JSON document with --json, text otherwise) and
 * progress on stderr, so `--json` output can be piped while a person still sees the waits.
 */
export interface Output {
  readonly json: boolean;
  /** A step of a long wait; on a terminal it rewrites one status line with the time elapsed. */
  progress(line: string): void;
  /** A line of information that is not the result (stderr). */
  note(line: string): void;
  /** The command's result: `data` as JSON with --json, otherwise the text `human` returns. */
  result(data: unknown, human: () => string): void;
}

export function createOutput(opts: {
  json: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const tty = stderr.isTTY === true;
  const started = Date.now();
  let live = false;
  let last = "";
  const clear = () => {
    if (live) stderr.write("\r\x1b[K");
    live = false;
  };
  return {
    json: opts.json,
    progress(line) {
      if (line === last && !tty) return;
      last = line;
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      if (tty) {
        stderr.write(`\r\x1b[K… ${line} (${elapsed} s)`);
        live = true;
      } else {
        stderr.write(`… ${line}\n`);
      }
    },
    note(line) {
      clear();
      stderr.write(`${line}\n`);
    },
    result(data, human) {
      clear();
      stdout.write(`${opts.json ? jsonStringify(data, 2) : human()}\n`);
    },
  };
}
