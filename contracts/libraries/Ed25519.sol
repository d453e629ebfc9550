// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Sha512} from "./Sha512.sol";

/// @title Ed25519
/// @notice Verifies pure Ed25519 signatures (RFC 8032 section 5.1.7) on chain, so a contract can
/// check that the caller holds the Ed25519 key it claims (a node key, a DID key) instead of
/// trusting whoever registers it first.
/// @dev Cofactorless and strict: a signature holds iff `[S]B == R + [k]A` with
/// `k = SHA-512(R || A || M) mod L`, `S < L`, and `A` and `R` canonical encodings of curve points.
/// This accepts every signature an RFC 8032 signer (such as the noble-ed25519 library) produces;
/// it rejects a few crafted ones that ZIP-215 verifiers accept (non-canonical encodings, and small-order
/// components that only a cofactored check `[8][S]B == [8]R + [8][k]A` ignores). Public keys of
/// small order are rejected too (as libsodium does): a signature "by" such a key proves nothing,
/// since with S = 0 and R one of the eight small-order points it verifies for many messages.
///
/// Arithmetic is over the field p = 2^255 - 19 with mulmod/addmod, on extended twisted Edwards
/// coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z, with the complete addition and
/// doubling formulas of RFC 8032 section 5.1.4. `[S]B + [k](-A)` is computed in one pass (Shamir's
/// trick) over 2-bit windows of both scalars at once, so it costs 252 doublings and at most 127
/// additions of a precomputed `[i]B + [j](-A)`, about 130k gas; SHA-512 adds about 48k gas per
/// 128-byte block of `R || A || M` (one block for a message of up to 47 bytes). Instead of decoding R, the result is encoded and
/// compared with R's bytes: that needs one field inversion (via the modexp precompile) and makes
/// any non-canonical or off-curve R fail for free.
library Ed25519 {
    /// @dev The field prime p = 2^255 - 19.
    uint256 private constant P = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed;
    /// @dev The order of the base point, L = 2^252 + 27742317777372353535851937790883648493.
    uint256 private constant L = 0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed;
    /// @dev The curve constant d = -121665/121666 mod p.
    uint256 private constant D = 0x52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3;
    /// @dev 2d mod p, the factor of T1*T2 in the addition formula.
    uint256 private constant D2 = 0x2406d9dc56dffce7198e80f2eef3d13000e0149a8283b156ebd69b9426b2f159;
    /// @dev sqrt(-1) mod p = 2^((p-1)/4), used when decoding x (RFC 8032 section 5.1.3 step 3).
    uint256 private constant SQRT_M1 = 0x2b8324804fc1df0b2b4d00993dfbd7a72f431806ad2fe478c4ee1b274a0ea0b0;
    /// @dev The base point B: x and y = 4/5, and their product (its T coordinate when Z = 1).
    uint256 private constant BASE_X = 0x216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51a;
    uint256 private constant BASE_Y = 0x6666666666666666666666666666666666666666666666666666666666666658;
    uint256 private constant BASE_T = 0x67875f0fd78b766566ea4e8e64abe37d20f09f80775152f56dde8ab3a5b7dda3;
    /// @dev (p-5)/8: u*v^3*(u*v^7)^((p-5)/8) is a square root candidate of u/v (section 5.1.3).
    uint256 private constant SQRT_EXPONENT = 0x0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd;
    /// @dev p-2: z^(p-2) = 1/z by Fermat's little theorem.
    uint256 private constant INVERSE_EXPONENT = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeb;
    /// @dev 2^256 mod L, to reduce the 512-bit SHA-512 output mod L in two 256-bit halves.
    uint256 private constant TWO_POW_256_MOD_L = 0x0ffffffffffffffffffffffffffffffec6ef5bf4737dcf70d6ec31748d98951d;

    /// @dev The y coordinate of the points of order 8 (the others have -y). With y = 0 (order 4),
    /// y = 1 (the neutral point) and y = -1 (order 2) it lists every point of small order.
    uint256 private constant ORDER_8_Y = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826;

    /// @dev An encoded point is y (255 bits, little-endian) with the parity of x in the top bit.
    uint256 private constant SIGN_BIT = 255;
    uint256 private constant Y_MASK = (1 << SIGN_BIT) - 1;

    /// @dev Masks of the byte reversal in _littleEndian, which swaps neighbouring lanes of 8, 16,
    /// 32, 64 and then 128 bits: each mask selects the lower lane of every pair.
    uint256 private constant SWAP_8 = 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
    uint256 private constant SWAP_16 = 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff;
    uint256 private constant SWAP_32 = 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant SWAP_64 = 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff;

    /// @dev The modexp precompile (EIP-198) and its input: three 32-byte lengths, then base,
    /// exponent and modulus of 32 bytes each.
    uint256 private constant MODEXP = 0x05;
    uint256 private constant WORD = 32;
    uint256 private constant MODEXP_INPUT_BYTES = 192;

    /// @dev Both scalars are read in windows of WINDOW_BITS bits from TOP_WINDOW (S, k < L < 2^253,
    /// so bits 252 and 253 are the highest window) down to bit 0.
    uint256 private constant WINDOW_BITS = 2;
    uint256 private constant WINDOW_MASK = 3;
    uint256 private constant TOP_WINDOW = 252;
    /// @dev The table holds [i]B + [j]A' for i, j in 0..3 (A' = -A) at index 4i + j, in rows of
    /// ROW_ENTRIES entries; entry 0 is the neutral point, never read. An entry is a point in cached
    /// form (RFC 8032's addition reads the second point only as these): Y-X, Y+X, 2d*T, 2Z.
    uint256 private constant ROW_ENTRIES = 4;
    uint256 private constant ENTRY_BYTES = 128;
    uint256 private constant ROW_BYTES = 512;
    uint256 private constant TABLE_BYTES = 2048;
    uint256 private constant Y_MINUS_X = 0x00;
    uint256 private constant Y_PLUS_X = 0x20;
    uint256 private constant T_2D = 0x40;
    uint256 private constant Z_2 = 0x60;
    /// @dev The free memory pointer's slot (Solidity's memory layout).
    uint256 private constant FREE_MEMORY_POINTER = 0x40;

    /// @notice Whether `(r, s)` is a valid Ed25519 signature of `message` under `publicKey`.
    /// @dev Never reverts on bad input: returns false for S >= L, for a public key or R that is not
    /// the canonical encoding of a curve point (y >= p, x = 0 with the sign bit set, no x), for a
    /// public key of small order, and for a wrong signature. View rather than pure only because it
    /// calls the modexp precompile (0x05).
    /// @param publicKey The 32-byte public key A, as RFC 8032 encodes it.
    /// @param r The first 32 bytes of the 64-byte signature (the encoded point R).
    /// @param s The last 32 bytes of the signature (the scalar S, little-endian).
    /// @param message The signed message M.
    /// @return True iff the signature is valid.
    function verify(bytes32 publicKey, bytes32 r, bytes32 s, bytes memory message) internal view returns (bool) {
        uint256 scalar = _littleEndian(s);
        if (scalar >= L) return false;
        (bool onCurve, uint256 ax, uint256 ay) = _decode(_littleEndian(publicKey));
        if (!onCurve || _hasSmallOrder(ay)) return false;
        (bytes32 first, bytes32 second) = Sha512.hash(abi.encodePacked(r, publicKey, message));
        // The digest is a 512-bit little-endian integer: its first half is the low 256 bits.
        uint256 k = addmod(_littleEndian(first), mulmod(_littleEndian(second), TWO_POW_256_MOD_L, L), L);
        // -A = (-x, y); -0 is 0, not p.
        uint256 negAx = ax == 0 ? 0 : P - ax;
        (uint256 qx, uint256 qy, uint256 qz) = _doubleScalarMul(scalar, k, negAx, ay);
        (bool inverted, uint256 encoded) = _encode(qx, qy, qz);
        return inverted && encoded == _littleEndian(r);
    }

    /// @notice Decodes a point (RFC 8032 section 5.1.3) given as the little-endian integer `encoded`.
    /// @return valid False if y >= p, if (y^2 - 1)/(d y^2 + 1) has no square root, or if x = 0 and
    /// the sign bit is set (the non-canonical encodings of (0, 1) and (0, -1)).
    /// @return x The x coordinate, reduced.
    /// @return y The y coordinate, reduced.
    function _decode(uint256 encoded) private view returns (bool valid, uint256 x, uint256 y) {
        y = encoded & Y_MASK;
        uint256 sign = encoded >> SIGN_BIT;
        if (y >= P) return (false, 0, 0);
        uint256 yy = mulmod(y, y, P);
        uint256 u = addmod(yy, P - 1, P);
        uint256 v = addmod(mulmod(D, yy, P), 1, P);
        uint256 uv3 = mulmod(u, mulmod(mulmod(v, v, P), v, P), P);
        uint256 uv7 = mulmod(uv3, mulmod(mulmod(v, v, P), mulmod(v, v, P), P), P);
        (bool ok, uint256 power) = _modexp(uv7, SQRT_EXPONENT);
        if (!ok) return (false, 0, 0);
        x = mulmod(uv3, power, P);
        // x is a root of u/v, of -u/v (then x * sqrt(-1) is a root of u/v), or u/v is no square.
        uint256 vxx = mulmod(v, mulmod(x, x, P), P);
        if (vxx != u) {
            if (vxx != P - u) return (false, 0, 0);
            x = mulmod(x, SQRT_M1, P);
        }
        if (x == 0 && sign == 1) return (false, 0, 0);
        if (x & 1 != sign) x = P - x;
        return (true, x, y);
    }

    /// @notice Whether the curve point with y coordinate `y` has order 1, 2, 4 or 8. The y
    /// coordinate decides it, as a point and its negation have the same order.
    function _hasSmallOrder(uint256 y) private pure returns (bool) {
        return y == 0 || y == 1 || y == P - 1 || y == ORDER_8_Y || y == P - ORDER_8_Y;
    }

    /// @notice Encodes the point (X : Y : Z) as RFC 8032 section 5.1.2 does, as a little-endian
    /// integer: y = Y/Z with the parity of x = X/Z in bit 255.
    /// @return ok False only if the modexp precompile call failed.
    /// @return encoded The encoding.
    function _encode(uint256 qx, uint256 qy, uint256 qz) private view returns (bool ok, uint256 encoded) {
        uint256 zInv;
        (ok, zInv) = _modexp(qz, INVERSE_EXPONENT);
        uint256 x = mulmod(qx, zInv, P);
        uint256 y = mulmod(qy, zInv, P);
        encoded = y | ((x & 1) << SIGN_BIT);
    }

    /// @notice `base^exponent mod p` through the modexp precompile.
    /// @return ok False if the call failed or returned no word (a chain without the precompile).
    /// @return result The power.
    function _modexp(uint256 base, uint256 exponent) private view returns (bool ok, uint256 result) {
        // The input is written past the free memory pointer: it is only read by the call.
        assembly ("memory-safe") {
            let input := mload(FREE_MEMORY_POINTER)
            mstore(input, WORD)
            mstore(add(input, WORD), WORD)
            mstore(add(input, mul(2, WORD)), WORD)
            mstore(add(input, mul(3, WORD)), base)
            mstore(add(input, mul(4, WORD)), exponent)
            mstore(add(input, mul(5, WORD)), P)
            ok := staticcall(gas(), MODEXP, input, MODEXP_INPUT_BYTES, input, WORD)
            // A separate statement: Yul evaluates arguments right to left, so inside one `and`
            // returndatasize() would be read before the call.
            ok := and(ok, eq(returndatasize(), WORD))
            result := mload(input)
        }
    }

    /// @notice `[a]B + [b]A'` for the base point B and the point A' = (x, y), in projective
    /// coordinates (X : Y : Z).
    /// @dev Inputs: a, b < 2^254 and (x, y) a reduced point on the curve. Every coordinate held
    /// between steps is a mulmod/addmod result, hence below p < 2^255, so a sum of two fits in 256
    /// bits and `y + (p - x)` stands for y - x; such unreduced sums (below 2p) only ever feed
    /// mulmod or addmod, which reduce any 256-bit input.
    function _doubleScalarMul(uint256 a, uint256 b, uint256 x, uint256 y)
        private
        pure
        returns (uint256 qx, uint256 qy, uint256 qz)
    {
        assembly ("memory-safe") {
            let table := mload(FREE_MEMORY_POINTER)
            mstore(FREE_MEMORY_POINTER, add(table, TABLE_BYTES))
            // p is used as a variable, `prime`, read back from scratch memory after a write the
            // optimizer cannot rule out aliasing it. Written as the literal P, each of its ~5,000
            // executions would be the optimizer's (runs = 200) 8-byte recipe for it,
            // `sub(shl(255, 1), 19)`, 12 gas more than a DUP: about 55k gas per verification.
            // That write fills entry 0 with the neutral point (0 : 1 : 1 : 0) in cached form, for
            // completeness (the loop never reads it).
            mstore(0, P)
            mstore(add(table, Y_MINUS_X), 1)
            mstore(add(table, Y_PLUS_X), 1)
            mstore(add(table, T_2D), 0)
            mstore(add(table, Z_2), 2)
            let prime := mload(0)

            // Row 0: [j]A' for j = 1..3, each the previous one plus A' (the addition formula is
            // complete, so it also doubles).
            let one := add(table, ENTRY_BYTES)
            _store(one, x, y, 1, mulmod(x, y, prime), prime)
            {
                let px, py, pz, pt := _add(x, y, 1, mulmod(x, y, prime), one, prime)
                _store(add(table, mul(2, ENTRY_BYTES)), px, py, pz, pt, prime)
                px, py, pz, pt := _add(px, py, pz, pt, one, prime)
                _store(add(table, mul(3, ENTRY_BYTES)), px, py, pz, pt, prime)
            }
            // Rows 1..3: [i]B, then [i]B + [j]A' for j = 1..3.
            {
                let bx := BASE_X
                let by := BASE_Y
                let bz := 1
                let bt := BASE_T
                for { let row := add(table, ROW_BYTES) } 1 {} {
                    _store(row, bx, by, bz, bt, prime)
                    for { let j := 1 } lt(j, ROW_ENTRIES) { j := add(j, 1) } {
                        let px, py, pz, pt := _add(bx, by, bz, bt, add(table, mul(j, ENTRY_BYTES)), prime)
                        _store(add(row, mul(j, ENTRY_BYTES)), px, py, pz, pt, prime)
                    }
                    row := add(row, ROW_BYTES)
                    if eq(row, add(table, TABLE_BYTES)) { break }
                    bx, by, bz, bt := _add(bx, by, bz, bt, add(table, ROW_BYTES), prime)
                }
            }

            // Main loop, top window first: Q = 4Q + [a_i]B + [b_i]A' for the 2-bit windows a_i, b_i.
            // Q starts as the neutral point (0 : 1 : 1 : 0) and each window is added before the
            // doublings, so none is spent on the neutral point and none follows the last window.
            // The addition's T output is never read here (a doubling follows it), the second
            // doubling's is, by the next addition.
            let qt := 0
            qx := 0
            qy := 1
            qz := 1
            for { let bit := TOP_WINDOW } 1 { bit := sub(bit, WINDOW_BITS) } {
                let index := or(shl(WINDOW_BITS, and(shr(bit, a), WINDOW_MASK)), and(shr(bit, b), WINDOW_MASK))
                if index { qx, qy, qz, qt := _add(qx, qy, qz, qt, add(table, mul(index, ENTRY_BYTES)), prime) }
                if iszero(bit) { break }
                qx, qy, qz, qt := _double(qx, qy, qz, prime)
                qx, qy, qz, qt := _double(qx, qy, qz, prime)
            }

            // Stores (X : Y : Z : T) in cached form at `entry`.
            function _store(entry, px, py, pz, pt, p) {
                mstore(add(entry, Y_MINUS_X), addmod(py, sub(p, px), p))
                mstore(add(entry, Y_PLUS_X), addmod(py, px, p))
                mstore(add(entry, T_2D), mulmod(pt, D2, p))
                mstore(add(entry, Z_2), addmod(pz, pz, p))
            }

            // (X : Y : Z : T) plus the cached point at `entry` (RFC 8032 section 5.1.4, addition).
            function _add(px, py, pz, pt, entry, p) -> rx, ry, rz, rt {
                let ca := mulmod(add(py, sub(p, px)), mload(add(entry, Y_MINUS_X)), p)
                let cb := mulmod(add(py, px), mload(add(entry, Y_PLUS_X)), p)
                let cc := mulmod(pt, mload(add(entry, T_2D)), p)
                let cd := mulmod(pz, mload(add(entry, Z_2)), p)
                let ce := add(cb, sub(p, ca))
                let cf := add(cd, sub(p, cc))
                let cg := add(cd, cc)
                let ch := add(cb, ca)
                rx := mulmod(ce, cf, p)
                ry := mulmod(cg, ch, p)
                rt := mulmod(ce, ch, p)
                rz := mulmod(cf, cg, p)
            }

            // 2 * (X : Y : Z) (RFC 8032 section 5.1.4, doubling); T is not an input of doubling,
            // and as an output it is only needed before an addition.
            function _double(px, py, pz, p) -> rx, ry, rz, rt {
                let da := mulmod(px, px, p)
                let db := mulmod(py, py, p)
                let dc := mulmod(pz, pz, p)
                let dh := add(da, db)
                let sum := add(px, py)
                let de := addmod(dh, sub(p, mulmod(sum, sum, p)), p)
                let dg := add(da, sub(p, db))
                let df := addmod(add(dc, dc), dg, p)
                rx := mulmod(de, df, p)
                ry := mulmod(dg, dh, p)
                rt := mulmod(de, dh, p)
                rz := mulmod(df, dg, p)
            }
        }
    }

    /// @notice Reads 32 bytes as a little-endian integer, as RFC 8032 encodes scalars and points:
    /// reverses the byte order by swapping ever wider lanes (shift = lane width in bits).
    function _littleEndian(bytes32 word) private pure returns (uint256 v) {
        v = uint256(word);
        v = ((v >> 8) & SWAP_8) | ((v & SWAP_8) << 8);
        v = ((v >> 16) & SWAP_16) | ((v & SWAP_16) << 16);
        v = ((v >> 32) & SWAP_32) | ((v & SWAP_32) << 32);
        v = ((v >> 64) & SWAP_64) | ((v & SWAP_64) << 64);
        v = (v >> 128) | (v << 128);
    }
}
