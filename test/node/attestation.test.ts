import { expect } from "chai";
import { createWalletClient, custom, hashTypedData, keccak256, toHex, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  attestationDigest,
  attestationDomain,
  ATTESTATION_TYPES,
  signAttestation,
  verifyAttestation,
  type Attestation,
} from "../../node/attest/attestation.ts";
import type { Wallet } from "../../node/chain/clients.ts";

const MARKET: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const account = privateKeyToAccount(`0x${"42".repeat(32)}`);

function attestation(over: Partial<Attestation> = {}): Attestation {
  return {
    jobId: 12345n,
    modelId: keccak256(toHex("model")),
    version: 7,
    inputHash: keccak256(toHex("input")),
    resultHash: keccak256(toHex("result")),
    outputRef: toHex("ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
    ...over,
  };
}

const cases: [string, Attestation][] = [
  ["an IPFS reference", attestation()],
  [
    "an inline output of 2 KiB",
    attestation({ outputRef: toHex(`data:application/vnd.safetensors;base64,${"A".repeat(2_048)}`) }),
  ],
  ["an empty output reference", attestation({ outputRef: "0x" })],
  ["the largest jobId and version", attestation({ jobId: 2n ** 256n - 1n, version: 2 ** 32 - 1 })],
  ["jobId 0, version 0", attestation({ jobId: 0n, version: 0 })],
];

describe("attestation signing (issue 14: the digest built directly)", function () {
  for (const [name, a] of cases) {
    it(`the digest is EIP-712's hashTypedData, and the signature signTypedData's: ${name}`, async function () {
      for (const [chainId, market] of [
        [31337, MARKET],
        [1, "0x00000000000000000000000000000000000000a1" as Address],
      ] as const) {
        const typed = {
          domain: attestationDomain(chainId, market),
          types: ATTESTATION_TYPES,
          primaryType: "Attestation",
          message: a,
        } as const;
        expect(attestationDigest(chainId, market, a)).to.equal(hashTypedData(typed));
        const wallet = createWalletClient({
          account,
          transport: custom({ request: async () => null }),
        }) as unknown as Wallet;
        const signature = await signAttestation(wallet, chainId, market, a);
        expect(signature).to.equal(await account.signTypedData(typed));
        expect(await verifyAttestation(account.address, chainId, market, a, signature)).to.equal(true);
      }
    });
  }

  it("refuses fields that are not what the type says (the digest would not be the typed data's)", function () {
    expect(() => attestationDigest(1, MARKET, attestation({ jobId: -1n }))).to.throw(RangeError);
    expect(() => attestationDigest(1, MARKET, attestation({ jobId: 2n ** 256n }))).to.throw(RangeError);
    expect(() => attestationDigest(1, MARKET, attestation({ version: 2 ** 32 }))).to.throw(RangeError);
    expect(() => attestationDigest(1, MARKET, attestation({ modelId: "0x1234" }))).to.throw(TypeError);
    expect(() => attestationDigest(1, MARKET, attestation({ resultHash: `0x${"zz".repeat(32)}` as Hex }))).to.throw(
      TypeError,
    );
    expect(() => attestationDigest(1, MARKET, attestation({ outputRef: "0x123" }))).to.throw(TypeError);
    expect(() => attestationDigest(1, MARKET, attestation({ outputRef: "0x12zz" }))).to.throw(TypeError);
  });

  it("an account the node holds (JSON-RPC) still signs through eth_signTypedData_v4", async function () {
    const asked: string[] = [];
    const wallet = createWalletClient({
      account: account.address,
      transport: custom({
        request: async ({ method }: { method: string }) => {
          asked.push(method);
          return `0x${"ab".repeat(65)}`;
        },
      }),
    }) as unknown as Wallet;
    expect(await signAttestation(wallet, 1, MARKET, attestation())).to.equal(`0x${"ab".repeat(65)}`);
    expect(asked).to.deep.equal(["eth_signTypedData_v4"]);
  });
});
