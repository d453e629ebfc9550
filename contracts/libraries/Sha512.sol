// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Sha512
/// @notice SHA-512 (FIPS 180-4) of a byte string, for Ed25519 signature checks: the EVM has
/// precompiles for SHA-256 and Keccak but not for SHA-512, which RFC 8032 requires.
/// @dev Written in Yul because a block costs 80 rounds of 64-bit arithmetic; in high-level
/// Solidity the cleanup masks and array bounds checks roughly double its gas. Every 64-bit word is
/// held in a 256-bit stack slot: additions may carry above bit 63 and are masked only where a value
/// is stored or rotated, which is sound because the low 64 bits of a sum do not depend on the
/// higher bits of its terms.
library Sha512 {
    /// @dev Bytes per message block (FIPS 180-4 section 5.1.2).
    uint256 private constant BLOCK_BYTES = 128;
    /// @dev Bytes of the big-endian bit-length field that ends the padding.
    uint256 private constant LENGTH_BYTES = 16;
    /// @dev The byte that starts the padding: a single 1 bit, then zeros.
    bytes1 private constant PAD_START = 0x80;
    /// @dev Bits per byte, to turn the message length into the padding's bit count.
    uint256 private constant BITS_PER_BYTE = 8;

    /// @dev Rounds per block; also the number of message-schedule words.
    uint256 private constant ROUNDS = 80;
    /// @dev Schedule words taken directly from the block; the rest are derived.
    uint256 private constant BLOCK_WORDS = 16;
    /// @dev Bytes of memory per schedule word (one EVM word per 64-bit value).
    uint256 private constant SLOT = 32;
    /// @dev Bytes of one 64-bit word in the block and in ROUND_CONSTANTS.
    uint256 private constant WORD_BYTES = 8;
    /// @dev The right shift that leaves the first 8 bytes of a 32-byte mload.
    uint256 private constant FIRST_WORD_SHIFT = 192;
    /// @dev Selects the low 64 bits of a stack slot.
    uint256 private constant MASK64 = 0xffffffffffffffff;
    /// @dev Bytes of memory the schedule takes: ROUNDS * SLOT.
    uint256 private constant SCHEDULE_BYTES = 2560;
    /// @dev The free memory pointer's slot (Solidity's memory layout).
    uint256 private constant FREE_MEMORY_POINTER = 0x40;

    /// @dev Initial hash value H(0) (FIPS 180-4 section 5.3.5): fractional parts of the square
    /// roots of the first eight primes.
    uint256 private constant H0 = 0x6a09e667f3bcc908;
    uint256 private constant H1 = 0xbb67ae8584caa73b;
    uint256 private constant H2 = 0x3c6ef372fe94f82b;
    uint256 private constant H3 = 0xa54ff53a5f1d36f1;
    uint256 private constant H4 = 0x510e527fade682d1;
    uint256 private constant H5 = 0x9b05688c2b3e6c1f;
    uint256 private constant H6 = 0x1f83d9abfb41bd6b;
    uint256 private constant H7 = 0x5be0cd19137e2179;

    /// @dev The 80 round constants K (FIPS 180-4 section 4.2.3), 8 bytes each, big-endian:
    /// fractional parts of the cube roots of the first eighty primes.
    bytes private constant ROUND_CONSTANTS =
        hex"428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019"
        hex"923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
        hex"72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e3"
        hex"0fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
        hex"983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa725"
        hex"06ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
        hex"650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001"
        hex"c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
        hex"19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb"
        hex"5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
        hex"90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207"
        hex"eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
        hex"28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a"
        hex"5fcb6fab3ad6faec6c44198c4a475817";

    /// @dev Rotation and shift counts of the four functions of FIPS 180-4 section 4.1.3 (4.10 to 4.13).
    uint256 private constant BIG_SIGMA0_R1 = 28;
    uint256 private constant BIG_SIGMA0_R2 = 34;
    uint256 private constant BIG_SIGMA0_R3 = 39;
    uint256 private constant BIG_SIGMA1_R1 = 14;
    uint256 private constant BIG_SIGMA1_R2 = 18;
    uint256 private constant BIG_SIGMA1_R3 = 41;
    uint256 private constant SMALL_SIGMA0_R1 = 1;
    uint256 private constant SMALL_SIGMA0_R2 = 8;
    uint256 private constant SMALL_SIGMA0_SHIFT = 7;
    uint256 private constant SMALL_SIGMA1_R1 = 19;
    uint256 private constant SMALL_SIGMA1_R2 = 61;
    uint256 private constant SMALL_SIGMA1_SHIFT = 6;
    /// @dev Bits in a word, for rotations.
    uint256 private constant WORD_BITS = 64;

    /// @notice The SHA-512 digest of `data`, split in two: `high` is digest bytes 0..31 and `low`
    /// is bytes 32..63, each in digest byte order.
    /// @param data The message.
    /// @return high The first 32 bytes of the digest.
    /// @return low The last 32 bytes of the digest.
    function hash(bytes memory data) internal pure returns (bytes32 high, bytes32 low) {
        bytes memory padded = _pad(data);
        bytes memory roundConstants = ROUND_CONSTANTS;
        uint256[8] memory state = [H0, H1, H2, H3, H4, H5, H6, H7];
        // The schedule W[0..79] lives in scratch memory past the free memory pointer: nothing
        // allocates while this block runs, so it need not be reserved.
        assembly ("memory-safe") {
            let schedule := mload(FREE_MEMORY_POINTER)
            let blocks := add(padded, SLOT)
            let blocksEnd := add(blocks, mload(padded))
            for {} lt(blocks, blocksEnd) { blocks := add(blocks, BLOCK_BYTES) } {
                _expand(schedule, blocks)
                _compress(state, schedule, add(roundConstants, SLOT))
            }

            // W[0..15] are the block's big-endian words; for t >= 16 (section 6.4.2 step 1)
            // W[t] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16] mod 2^64. A rotation of a
            // 64-bit x is a shift of x || x (`xx` below), masked once after the terms are added.
            function _expand(w, blk) {
                for { let t := 0 } lt(t, BLOCK_WORDS) { t := add(t, 1) } {
                    mstore(add(w, mul(t, SLOT)), shr(FIRST_WORD_SHIFT, mload(add(blk, mul(t, WORD_BYTES)))))
                }
                let end := add(w, SCHEDULE_BYTES)
                for { let p := add(w, mul(BLOCK_WORDS, SLOT)) } lt(p, end) { p := add(p, SLOT) } {
                    let x := mload(sub(p, mul(2, SLOT)))
                    let xx := or(x, shl(WORD_BITS, x))
                    let s1 := xor(xor(shr(SMALL_SIGMA1_R1, xx), shr(SMALL_SIGMA1_R2, xx)), shr(SMALL_SIGMA1_SHIFT, x))
                    x := mload(sub(p, mul(15, SLOT)))
                    xx := or(x, shl(WORD_BITS, x))
                    let s0 := xor(xor(shr(SMALL_SIGMA0_R1, xx), shr(SMALL_SIGMA0_R2, xx)), shr(SMALL_SIGMA0_SHIFT, x))
                    let sum := add(add(s1, mload(sub(p, mul(7, SLOT)))), add(s0, mload(sub(p, mul(16, SLOT)))))
                    mstore(p, and(sum, MASK64))
                }
            }

            // The 80 rounds of section 6.4.2 step 3, then the feed-forward of step 4.
            //
            // Of the working variables only a and e travel alone; b, c, d and f, g, h travel packed
            // in three 64-bit lanes (bcd = b << 128 | c << 64 | d), so the loop needs few stack
            // slots and is never spilled to memory, however large the function it is inlined into.
            // Each round then shifts bcd down a lane and puts the old a on top (likewise fgh and e).
            //
            // Only the low 64 bits of T1 and T2 matter, and a sum's low 64 bits depend only on its
            // terms' low 64 bits, so terms may carry junk above bit 63: d and h are read as the
            // whole of bcd and fgh, and Sigma, Ch and Maj go unmasked; a and e are masked once.
            function _compress(st, w, k) {
                let a := mload(st)
                let bcd := _pack(mload(add(st, SLOT)), mload(add(st, mul(2, SLOT))), mload(add(st, mul(3, SLOT))))
                let e := mload(add(st, mul(4, SLOT)))
                let fgh :=
                    _pack(mload(add(st, mul(5, SLOT))), mload(add(st, mul(6, SLOT))), mload(add(st, mul(7, SLOT))))
                let end := add(w, SCHEDULE_BYTES)
                for {} lt(w, end) {
                    w := add(w, SLOT)
                    k := add(k, WORD_BYTES)
                } {
                    // T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]; Ch(e, f, g) = g ^ (e & (f ^ g)),
                    // in the low lane of fg = f << 64 | g.
                    let xx := or(e, shl(WORD_BITS, e))
                    let fg := shr(WORD_BITS, fgh)
                    let t1 :=
                        add(
                            add(fgh, add(mload(w), shr(FIRST_WORD_SHIFT, mload(k)))),
                            add(
                                xor(xor(shr(BIG_SIGMA1_R1, xx), shr(BIG_SIGMA1_R2, xx)), shr(BIG_SIGMA1_R3, xx)),
                                xor(fg, and(e, xor(shr(WORD_BITS, fg), fg)))
                            )
                        )
                    // T2 = Sigma0(a) + Maj(a, b, c); Maj(a, b, c) = (a & b) | (c & (a | b)), in the
                    // low lane of bc = b << 64 | c (a has no high lanes, so neither has the result).
                    xx := or(a, shl(WORD_BITS, a))
                    let bc := shr(WORD_BITS, bcd)
                    let b := shr(WORD_BITS, bc)
                    let t2 :=
                        add(
                            xor(xor(shr(BIG_SIGMA0_R1, xx), shr(BIG_SIGMA0_R2, xx)), shr(BIG_SIGMA0_R3, xx)),
                            or(and(a, b), and(bc, or(a, b)))
                        )
                    // (a, b, c, d, e, f, g, h) = (T1 + T2, a, b, c, d + T1, e, f, g)
                    let eNext := and(add(bcd, t1), MASK64)
                    bcd := or(shl(mul(2, WORD_BITS), a), bc)
                    a := and(add(t1, t2), MASK64)
                    fgh := or(shl(mul(2, WORD_BITS), e), fg)
                    e := eNext
                }
                _feedForward(st, 0, a)
                _feedForward(st, 1, shr(mul(2, WORD_BITS), bcd))
                _feedForward(st, 2, and(shr(WORD_BITS, bcd), MASK64))
                _feedForward(st, 3, and(bcd, MASK64))
                _feedForward(st, 4, e)
                _feedForward(st, 5, shr(mul(2, WORD_BITS), fgh))
                _feedForward(st, 6, and(shr(WORD_BITS, fgh), MASK64))
                _feedForward(st, 7, and(fgh, MASK64))
            }

            // x << 128 | y << 64 | z for 64-bit x, y and z.
            function _pack(x, y, z) -> packed {
                packed := or(or(shl(mul(2, WORD_BITS), x), shl(WORD_BITS, y)), z)
            }

            // H[i] = H[i] + v mod 2^64.
            function _feedForward(st, i, v) {
                let slot := add(st, mul(i, SLOT))
                mstore(slot, and(add(mload(slot), v), MASK64))
            }
        }
        high = bytes32(_join(state[0], state[1], state[2], state[3]));
        low = bytes32(_join(state[4], state[5], state[6], state[7]));
    }

    /// @notice Four 64-bit words as one big-endian 256-bit word, `w0` first.
    function _join(uint256 w0, uint256 w1, uint256 w2, uint256 w3) private pure returns (uint256) {
        return (w0 << (3 * WORD_BITS)) | (w1 << (2 * WORD_BITS)) | (w2 << WORD_BITS) | w3;
    }

    /// @notice The message padded per FIPS 180-4 section 5.1.2: a 1 bit, zeros, then the 128-bit
    /// big-endian bit length, to a multiple of 128 bytes.
    /// @param data The message.
    /// @return The padded copy; `data` is left as it was.
    function _pad(bytes memory data) private pure returns (bytes memory) {
        uint256 used = (data.length + 1 + LENGTH_BYTES) % BLOCK_BYTES;
        uint256 zeros = used == 0 ? 0 : BLOCK_BYTES - used;
        return abi.encodePacked(data, PAD_START, new bytes(zeros), uint128(data.length * BITS_PER_BYTE));
    }
}
