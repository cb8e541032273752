// Prints the table of a `npm run chaos -- --json` report saved to a file (bigints come back from strings).
import { readFileSync } from "node:fs";
import { reportTable, type ChaosReport } from "../node/devnet/chaos/report.ts";

const r = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as ChaosReport;
r.figures.revertedTxs.gasBurntWei = BigInt(r.figures.revertedTxs.gasBurntWei as unknown as string);
r.figures.revertedTxs.gasUsed = BigInt(r.figures.revertedTxs.gasUsed as unknown as string);
for (const f of r.faults) f.block = BigInt(f.block as unknown as string);
console.log(reportTable(r));
