// SPDX-License-Identifier: GPL-2.0

//! What every decoder target does. A decoder must never panic, and
//! whatever it accepts must re-encode to the very same block. The input is
//! tried as it is and again with a valid header (magic, block number,
//! checksum) so that the fuzzer reaches the field checks behind the
//! checksum.

use pvdisk::format::block::seal;
use pvdisk::format::{Block, StoreId, BLOCK_SIZE};

/// The store every target decodes blocks of (the superblock aside, which
/// has a plain checksum).
pub fn id() -> StoreId {
    StoreId::from_uuid(&[0x5a; 16])
}

/// The input's first block, zero-padded.
pub fn block(data: &[u8]) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    let n = data.len().min(BLOCK_SIZE);
    b[..n].copy_from_slice(&data[..n]);
    b
}

/// Byte `at` of the input beyond its first block, which targets use for
/// a block number or a level; `default` if the input is shorter.
pub fn extra_byte(data: &[u8], at: usize, default: u8) -> u8 {
    data.get(BLOCK_SIZE + at).copied().unwrap_or(default)
}

/// Run `decode_check` on the input's block as it is, then sealed as block
/// `nr` of store `id` with `magic`.
pub fn raw_and_sealed(
    data: &[u8],
    id: StoreId,
    magic: u32,
    nr: u64,
    decode_check: impl Fn(&Block),
) {
    let raw = block(data);
    decode_check(&raw);
    let mut sealed = raw;
    seal(&mut sealed, id, magic, nr);
    decode_check(&sealed);
}

/// Assert that `encode` writes back exactly the block that was decoded.
pub fn assert_reencodes(decoded: &Block, encode: impl FnOnce(&mut Block)) {
    let mut out = [0u8; BLOCK_SIZE];
    encode(&mut out);
    assert!(
        out == *decoded,
        "decode accepted a block that encodes differently"
    );
}
