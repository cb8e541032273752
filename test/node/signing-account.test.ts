import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { bytesToHex, recoverTransactionAddress, type TransactionSerializable } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { loadNativeSigner, signingAccount } from "../../node/chain/signing-account.ts";

describe("signing account (libsecp256k1 for transactions and hashes)", function () {
  const native = loadNativeSigner();

  function randomTx(i: number): TransactionSerializable {
    const to = bytesToHex(randomBytes(20));
    const data = bytesToHex(randomBytes(i % 7 === 0 ? 0 : 4 + (i % 300)));
    const base = { chainId: 31_337, to, data, nonce: i * 13, gas: 21_000n + BigInt(i), value: BigInt(i % 3) };
    if (i % 10 === 1) return { ...base, type: "legacy", gasPrice: 1_000_000_000n + BigInt(i) };
    if (i % 10 === 2) return { ...base, type: "eip2930", gasPrice: 2_000_000_000n, accessList: [] };
    return { ...base, type: "eip1559", maxFeePerGas: 3_000_000_000n + BigInt(i), maxPriorityFeePerGas: BigInt(i) };
  }

  it("the native binding loads on linux x64 (its prebuilt binary ships in the package)", function () {
    if (process.platform !== "linux" || process.arch !== "x64") this.skip();
    expect(native).to.not.equal(null);
  });

  it("signs every transaction type to the same bytes as viem's signer, and the signature recovers the account", async function () {
    if (native === null) this.skip();
    for (let i = 0; i < 60; i++) {
      const key = generatePrivateKey();
      const tx = randomTx(i);
      const ours = await signingAccount(key, native).signTransaction(tx);
      expect(ours, `transaction ${i} (${tx.type})`).to.equal(await privateKeyToAccount(key).signTransaction(tx));
      expect(await recoverTransactionAddress({ serializedTransaction: ours as never })).to.equal(
        privateKeyToAccount(key).address,
      );
    }
  });

  it("signs a hash (an attestation's EIP-712 digest) to the same bytes as viem's signer", async function () {
    if (native === null) this.skip();
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey();
      const hash = bytesToHex(randomBytes(32));
      expect(await signingAccount(key, native).sign!({ hash })).to.equal(await privateKeyToAccount(key).sign({ hash }));
    }
  });

  it("without the binding it is viem's account, signing as viem does", async function () {
    const key = generatePrivateKey();
    const account = signingAccount(key, null);
    expect(account.address).to.equal(privateKeyToAccount(key).address);
    const tx = randomTx(3);
    expect(await account.signTransaction(tx)).to.equal(await privateKeyToAccount(key).signTransaction(tx));
  });
});
