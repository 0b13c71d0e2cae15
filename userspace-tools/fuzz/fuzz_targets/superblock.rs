// SPDX-License-Identifier: GPL-2.0

//! Fuzz the superblock decoder: it must never panic, and whatever it accepts must
//! re-encode to the very same block.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::{Block, BLOCK_SIZE};
use pvdisk::format::superblock::Superblock;

fn block(data: &[u8]) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    let n = data.len().min(BLOCK_SIZE);
    b[..n].copy_from_slice(&data[..n]);
    b
}

fuzz_target!(|data: &[u8]| {
    let b = block(data);
    let mut out = [0u8; BLOCK_SIZE];
    if let Ok(sb) = Superblock::decode(&b) {
        sb.encode(&mut out);
        assert!(out == b);
    }
});
