import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { getAddress, isAddress, type Address } from "viem";
import { DeploymentError } from "../errors.ts";

/** One deployed contract: where it is and the block it was deployed in (where event scans start). */
export interface DeployedContract {
  address: Address;
  block: number;
}

/**
 * `deployments/<chainId>.json`: every tool reads contract addresses from this file. Later parts of
 * the system add contracts to `contracts` and keys beside it; they never change this shape.
 */
export interface DeploymentRecord {
  chainId: number;
  contracts: Record<string, DeployedContract>;
  [extra: string]: unknown;
}

export function deploymentPath(dir: string, chainId: number): string {
  return path.join(dir, `${chainId}.json`);
}

/** Writes the record atomically (write then rename), so a reader never sees half a file. */
export function writeDeployment(dir: string, record: DeploymentRecord): string {
  mkdirSync(dir, { recursive: true });
  const file = deploymentPath(dir, record.chainId);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, file);
  return file;
}

/** Reads and validates a deployment record. */
export function readDeployment(file: string): DeploymentRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new DeploymentError(`cannot read deployment file ${file}`, { cause });
  }
  const rec = raw as Partial<DeploymentRecord>;
  if (typeof rec.chainId !== "number" || typeof rec.contracts !== "object" || rec.contracts === null) {
    throw new DeploymentError(`deployment file ${file} lacks chainId or contracts`);
  }
  for (const [name, c] of Object.entries(rec.contracts)) {
    if (!c || typeof c.address !== "string" || !isAddress(c.address) || typeof c.block !== "number") {
      throw new DeploymentError(`deployment file ${file}: entry ${name} needs an address and a block`);
    }
    c.address = getAddress(c.address);
  }
  return rec as DeploymentRecord;
}

/** The address of a contract in a record, or a clear error naming what is missing. */
export function contractAddress(record: DeploymentRecord, name: string): Address {
  const c = record.contracts[name];
  if (!c) throw new DeploymentError(`deployment for chain ${record.chainId} has no ${name}`);
  return c.address;
}
