import {
  bytesToHex,
  domainSeparator,
  encodeAbiParameters,
  keccak256,
  toBytes,
  verifyTypedData,
  type Address,
  type Hex,
} from "viem";
import type { Wallet } from "../chain/clients.ts";
import { jobWords } from "./job-words.ts";
import { keccakHex } from "./keccak.ts";

/**
 * The immutable parameters of a job as the market commits to them, decoded: the market takes and
 * emits them as six packed words (see job-words.ts).
 */
export interface Job {
  client: Address;
  token: Address;
  modelId: Hex;
  version: number;
  redundancy: number;
  quorum: number;
  protocolFeeBps: number;
  feePerProvider: bigint;
  requestedAt: number;
  deadline: number;
  commitDeadline: number;
  revealWindow: number;
  /** Seconds each rank beyond the first k waits (0: no assignment); see InferenceMarket.assignment. */
  priorityWindow: number;
  minMemoryMB: number;
  collateral: bigint;
  requiredTags: bigint;
  inputHash: Hex;
  /** Draws the job's provider order on the registry's roster (see take-policy.ts `rankOf`). */
  seed: bigint;
  /** k = 1: seconds after a delivery during which it may be challenged (its fee is claimed after). */
  challengeWindow: number;
  /** A rollout's candidate job: the market reports how it ends to the model registry. */
  counted: boolean;
}

/**
 * The latest chain time at which a job can still move without a finalize: a k = 1 job's
 * deadline; a k > 1 job's commit deadline plus the reveal window (the reveal starts at the latest
 * at the commit deadline).
 */
export function jobEndsAt(job: Job): number {
  return job.redundancy === 1 ? job.deadline : job.commitDeadline + job.revealWindow;
}

/** What a provider signs for a result (DESIGN.md §2), bound to one job, market and chain. */
export interface Attestation {
  jobId: bigint;
  modelId: Hex;
  version: number;
  inputHash: Hex;
  resultHash: Hex;
  outputRef: Hex;
}

export const ATTESTATION_TYPES = {
  Attestation: [
    { name: "jobId", type: "uint256" },
    { name: "modelId", type: "bytes32" },
    { name: "version", type: "uint32" },
    { name: "inputHash", type: "bytes32" },
    { name: "resultHash", type: "bytes32" },
    { name: "outputRef", type: "bytes" },
  ],
} as const;

export function attestationDomain(chainId: number, market: Address) {
  return { name: "ConclaveInferenceMarket", version: "1", chainId, verifyingContract: market } as const;
}

export function attestationFor(jobId: bigint, job: Job, resultHash: Hex, outputRef: Hex): Attestation {
  return { jobId, modelId: job.modelId, version: job.version, inputHash: job.inputHash, resultHash, outputRef };
}

/** keccak256 of the Attestation type string (EIP-712 typeHash), as the market's ATTESTATION_TYPEHASH. */
const ATTESTATION_TYPEHASH = Buffer.from(
  keccak256(
    toBytes(
      "Attestation(uint256 jobId,bytes32 modelId,uint32 version,bytes32 inputHash,bytes32 resultHash,bytes outputRef)",
    ),
  ).slice(2),
  "hex",
);

/** Domain separators by chain and market: hashing a domain costs more than the rest of a digest. */
const domainSeparators = new Map<string, Buffer>();

function domainSeparatorOf(chainId: number, market: Address): Buffer {
  const key = `${chainId}:${market.toLowerCase()}`;
  let sep = domainSeparators.get(key);
  if (!sep) {
    sep = Buffer.from(domainSeparator({ domain: attestationDomain(chainId, market) }).slice(2), "hex");
    domainSeparators.set(key, sep);
  }
  return sep;
}

/** A 0x-prefixed hex of exactly `bytes` bytes, copied into `into` at `at` (checked: the digest must be the typed data's). */
function putHex(into: Buffer, at: number, hex: Hex, bytes: number, what: string): void {
  if (hex.length !== 2 + 2 * bytes || into.write(hex.slice(2), at, bytes, "hex") !== bytes)
    throw new TypeError(`${what} must be ${bytes} bytes of hex, got ${hex}`);
}

/**
 * The EIP-712 digest of an attestation, as `hashTypedData` gives it for {@link ATTESTATION_TYPES}
 * under {@link attestationDomain} (and as the market computes it), built directly: the domain
 * separator is cached and the struct is encoded in one buffer, a quarter of the hashing and none
 * of the generic typed-data validation that a signature otherwise costs per job.
 */
export function attestationDigest(chainId: number, market: Address, a: Attestation): Hex {
  if (a.jobId < 0n || a.jobId >= 1n << 256n) throw new RangeError(`jobId out of uint256 range: ${a.jobId}`);
  if (!Number.isInteger(a.version) || a.version < 0 || a.version > 0xffffffff)
    throw new RangeError(`version out of uint32 range: ${a.version}`);
  const struct = Buffer.alloc(7 * 32);
  ATTESTATION_TYPEHASH.copy(struct, 0);
  struct.write(a.jobId.toString(16).padStart(64, "0"), 32, 32, "hex");
  putHex(struct, 64, a.modelId, 32, "modelId");
  struct.writeUInt32BE(a.version, 96 + 28);
  putHex(struct, 128, a.inputHash, 32, "inputHash");
  putHex(struct, 160, a.resultHash, 32, "resultHash");
  const outputRef = Buffer.from(a.outputRef.slice(2), "hex");
  if (a.outputRef.length % 2 !== 0 || outputRef.length * 2 !== a.outputRef.length - 2)
    throw new TypeError("outputRef must be hex bytes");
  Buffer.from(keccak256(outputRef, "bytes")).copy(struct, 192);
  const digest = Buffer.alloc(66);
  digest[0] = 0x19;
  digest[1] = 0x01;
  domainSeparatorOf(chainId, market).copy(digest, 2);
  Buffer.from(keccak256(struct, "bytes")).copy(digest, 34);
  return bytesToHex(keccak256(digest, "bytes"));
}

/**
 * Signs an attestation with EIP-712: locally for a key (the digest built by
 * {@link attestationDigest}, then signed as a hash: the same deterministic signature), or through
 * the node for an unlocked account.
 */
export async function signAttestation(
  wallet: Wallet,
  chainId: number,
  market: Address,
  attestation: Attestation,
): Promise<Hex> {
  const account = wallet.account;
  if (account.type === "local" && account.sign)
    return account.sign({ hash: attestationDigest(chainId, market, attestation) });
  return wallet.signTypedData({
    account: wallet.account,
    domain: attestationDomain(chainId, market),
    types: ATTESTATION_TYPES,
    primaryType: "Attestation",
    message: attestation,
  });
}

/** Checks that `signature` is `provider`'s attestation, with the standard library only. */
export async function verifyAttestation(
  provider: Address,
  chainId: number,
  market: Address,
  attestation: Attestation,
  signature: Hex,
): Promise<boolean> {
  return verifyTypedData({
    address: provider,
    domain: attestationDomain(chainId, market),
    types: ATTESTATION_TYPES,
    primaryType: "Attestation",
    message: attestation,
    signature,
  });
}

/** The commitment of a k > 1 seat: keccak256(abi.encode(jobId, provider, resultHash, salt)). */
export function commitmentOf(jobId: bigint, provider: Address, resultHash: Hex, salt: Hex): Hex {
  return keccakHex(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
      [jobId, provider, resultHash, salt],
    ),
  );
}

/**
 * keccak256(abi.encode(job words)): the runner's local identity of a job's parameters (the
 * journal's compare-and-set key). Not what the market stores: its job word binds the top 200 bits
 * of keccak256(abi.encode(jobId, job words)), which binds the id too.
 */
export function jobHash(job: Job): Hex {
  return keccakHex(encodeAbiParameters([{ type: "uint256[6]" }], [jobWords(job)]));
}
