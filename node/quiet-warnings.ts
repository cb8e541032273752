/**
 * Node 22 prints "ExperimentalWarning: SQLite is an experimental feature" when node:sqlite (the
 * runner's journal) is first loaded. The journal uses only its long-settled core (DatabaseSync,
 * prepared statements), and a command prints nothing but its own output, so that one warning is
 * dropped; every other warning still prints. Import this before anything that loads node:sqlite
 * is evaluated (built-in modules load before the importing module's siblings run, so entry points
 * import the rest dynamically or import this first).
 */
const emit = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === "string" ? warning : warning.message;
  if (/^SQLite is an experimental feature/.test(text)) return;
  return (emit as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
