// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A provider's rank in a job's assignment as IInferenceMarket.assignment specifies it,
/// written apart from the market's code so tests check the market against the specification.
library AssignmentSpec {
    /// @notice Roster index `i`'s rank among `n` for `seed`: `(a × i + seed mod n) mod n`.
    function rank(uint256 seed, uint256 i, uint256 n) internal pure returns (uint256) {
        return (multiplier(seed, n) * i + (seed % n)) % n;
    }

    /// @notice Bits 64 and up of the seed in [1, n - 1], stepped up (wrapping to 1) to the first
    /// value coprime with n; 1 for n ≤ 2.
    function multiplier(uint256 seed, uint256 n) internal pure returns (uint256 a) {
        if (n <= 2) return 1;
        a = 1 + ((seed >> 64) % (n - 1));
        for (;;) {
            (uint256 x, uint256 y) = (a, n);
            while (y != 0) (x, y) = (y, x % y);
            if (x == 1) return a;
            a = a + 1 == n ? 1 : a + 1;
        }
    }
}
