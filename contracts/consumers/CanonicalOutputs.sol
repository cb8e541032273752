// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title CanonicalOutputs
/// @notice Reads a canonical result preimage (docs/canonical-result-hash.md, v1), the bytes whose
/// keccak256 is a job's result hash and which the {ConsumerRouter} delivers to consumers:
///
///     str("CONCLAVE-RESULT-V1") ‖ u32(n) ‖ for each output, sorted by name:
///         str(name) ‖ str(dtype) ‖ u32(rank) ‖ i64(dim)… ‖ i64(element)…
///
/// all little-endian, `str(s) = u32(len) ‖ bytes`. Every element is one i64: integers and BOOL
/// as they are, floats quantized (`floor(x / quantum + 0.5)`, with the version's
/// `outputQuantum`; NaN is −2^63, ±Inf ±(2^63 − 1)). A consumer finds an output by index or
/// name and reads its elements as int64 (quanta for floats).
/// @dev Works on a memory copy of the preimage, reading words with MLOAD and reversing bytes.
/// Every read is bounds-checked: a malformed preimage reverts with
/// {CanonicalOutputsMalformed}. Finding an output walks the outputs before it (their headers
/// only: elements are skipped by length), so a lookup costs a few hundred gas per output.
library CanonicalOutputs {
    /// @notice One output: where its elements start in the preimage, and its header.
    /// @param name The output's name (UTF-8).
    /// @param dtype The safetensors dtype it had (`F32`, `I64`, `BOOL`…).
    /// @param shape Its dimensions.
    /// @param count Its number of elements (the product of `shape`).
    /// @param offset The byte offset of its first element in the preimage.
    struct Output {
        bytes name;
        bytes dtype;
        uint256[] shape;
        uint256 count;
        uint256 offset;
    }

    /// @dev `u32(18) ‖ "CONCLAVE-RESULT-V1"`: the preimage's first 22 bytes.
    uint256 private constant HEADER = 0x12000000434f4e434c4156452d524553554c542d5631;

    uint256 private constant HEADER_BYTES = 22;

    /// @notice The preimage is malformed at byte `offset` (wrong header, a length or count
    /// running past the end, a negative dimension).
    error CanonicalOutputsMalformed(uint256 offset);

    /// @notice Output `index` does not exist: the preimage has `count` outputs.
    error CanonicalOutputsNoOutput(uint256 index, uint256 count);

    /// @notice Element `index` does not exist: the output has `count` elements.
    error CanonicalOutputsNoElement(uint256 index, uint256 count);

    /// @notice The number of outputs; reverts unless the preimage starts with the v1 header.
    /// @param preimage The canonical preimage.
    /// @return n The number of outputs.
    function outputCount(bytes memory preimage) internal pure returns (uint256 n) {
        if (preimage.length < HEADER_BYTES + 4) revert CanonicalOutputsMalformed(0);
        uint256 head;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            head := shr(80, mload(add(preimage, 0x20)))
        }
        if (head != HEADER) revert CanonicalOutputsMalformed(0);
        return _u32(preimage, HEADER_BYTES);
    }

    /// @notice Output number `index` (in the preimage's order: names sorted byte-wise).
    /// @param preimage The canonical preimage.
    /// @param index The output's index.
    /// @return o The output.
    function outputAt(bytes memory preimage, uint256 index) internal pure returns (Output memory o) {
        uint256 n = outputCount(preimage);
        if (index >= n) revert CanonicalOutputsNoOutput(index, n);
        uint256 at = HEADER_BYTES + 4;
        for (uint256 i = 0; ; ++i) {
            uint256 end;
            (o, end) = _readOutput(preimage, at, i == index);
            if (i == index) return o;
            at = end;
        }
    }

    /// @notice The output named `name`, if the preimage has one.
    /// @param preimage The canonical preimage.
    /// @param name The output's name.
    /// @return found Whether it has one.
    /// @return o The output (empty if not found).
    function find(bytes memory preimage, string memory name) internal pure returns (bool found, Output memory o) {
        uint256 n = outputCount(preimage);
        bytes32 wanted = keccak256(bytes(name));
        uint256 wantedLength = bytes(name).length;
        uint256 at = HEADER_BYTES + 4;
        for (uint256 i = 0; i < n; ++i) {
            uint256 nameLength = _u32(preimage, at);
            _need(preimage, at + 4, nameLength);
            bytes32 h;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                h := keccak256(add(add(preimage, 0x24), at), nameLength)
            }
            bool match_ = nameLength == wantedLength && h == wanted;
            uint256 end;
            (o, end) = _readOutput(preimage, at, match_);
            if (match_) return (true, o);
            at = end;
        }
        Output memory none;
        return (false, none);
    }

    /// @notice Element `index` (row-major) of an output, as its i64.
    /// @param preimage The canonical preimage the output was read from.
    /// @param o The output.
    /// @param index The element's index.
    /// @return value The element (quanta for a float output).
    function element(bytes memory preimage, Output memory o, uint256 index) internal pure returns (int64 value) {
        if (index >= o.count) revert CanonicalOutputsNoElement(index, o.count);
        return _i64(preimage, o.offset + index * 8);
    }

    /// @notice All elements of an output (row-major).
    /// @param preimage The canonical preimage the output was read from.
    /// @param o The output.
    /// @return values The elements (quanta for a float output).
    function elements(bytes memory preimage, Output memory o) internal pure returns (int64[] memory values) {
        values = new int64[](o.count);
        for (uint256 i = 0; i < o.count; ++i) {
            values[i] = _i64(preimage, o.offset + i * 8);
        }
    }

    /// @dev Reads the output whose header starts at `at`; returns it (its name, dtype and shape
    /// copied only when `full`) and where the next output starts.
    function _readOutput(
        bytes memory preimage,
        uint256 at,
        bool full
    ) private pure returns (Output memory o, uint256 end) {
        uint256 nameLength = _u32(preimage, at);
        _need(preimage, at + 4, nameLength);
        if (full) o.name = _slice(preimage, at + 4, nameLength);
        at += 4 + nameLength;
        uint256 dtypeLength = _u32(preimage, at);
        _need(preimage, at + 4, dtypeLength);
        if (full) o.dtype = _slice(preimage, at + 4, dtypeLength);
        at += 4 + dtypeLength;
        uint256 rank = _u32(preimage, at);
        at += 4;
        _need(preimage, at, rank * 8); // rank < 2^32: no overflow
        if (full) o.shape = new uint256[](rank);
        uint256 count = 1;
        for (uint256 d = 0; d < rank; ++d) {
            int64 dim = _i64(preimage, at);
            if (dim < 0) revert CanonicalOutputsMalformed(at);
            if (full) o.shape[d] = uint256(int256(dim));
            // count ≤ the preimage's length (checked below each step) and dim < 2^63: no overflow.
            count *= uint256(int256(dim));
            if (count > preimage.length) revert CanonicalOutputsMalformed(at);
            at += 8;
        }
        _need(preimage, at, count * 8);
        o.count = count;
        o.offset = at;
        end = at + count * 8;
    }

    /// @dev Reverts unless `length` bytes from `at` lie within the preimage.
    function _need(bytes memory preimage, uint256 at, uint256 length) private pure {
        if (at > preimage.length || length > preimage.length - at) revert CanonicalOutputsMalformed(at);
    }

    /// @dev The little-endian u32 at `at`.
    function _u32(bytes memory preimage, uint256 at) private pure returns (uint256 v) {
        _need(preimage, at, 4);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let w := mload(add(add(preimage, 0x20), at))
            v := or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w))))
        }
    }

    /// @dev The little-endian i64 at `at`.
    function _i64(bytes memory preimage, uint256 at) private pure returns (int64 v) {
        _need(preimage, at, 8);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let w := mload(add(add(preimage, 0x20), at))
            let u := or(
                or(or(byte(0, w), shl(8, byte(1, w))), or(shl(16, byte(2, w)), shl(24, byte(3, w)))),
                or(or(shl(32, byte(4, w)), shl(40, byte(5, w))), or(shl(48, byte(6, w)), shl(56, byte(7, w))))
            )
            v := signextend(7, u)
        }
    }

    /// @dev A copy of `length` bytes from `at` (bounds checked by the caller).
    function _slice(bytes memory preimage, uint256 at, uint256 length) private pure returns (bytes memory out) {
        out = new bytes(length);
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mcopy(add(out, 0x20), add(add(preimage, 0x20), at), length)
        }
    }
}
