/** `NODE_OPTIONS` without its `--import`s of tsx (the package, or a file inside it); the rest kept as written. */
export function withoutTsx(options: string): string {
  // Node splits NODE_OPTIONS at spaces outside double quotes.
  const tokens = options.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  const kept: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === "--import" && i + 1 < tokens.length && isTsx(tokens[i + 1]!)) {
      i++;
      continue;
    }
    if (token.startsWith("--import=") && isTsx(token.slice("--import=".length))) continue;
    kept.push(token);
  }
  return kept.join(" ");
}

function isTsx(specifier: string): boolean {
  const s = specifier.replaceAll('"', "");
  return s === "tsx" || s.startsWith("tsx/") || s.includes("/tsx/");
}
