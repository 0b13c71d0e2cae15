// SPDX-License-Identifier: GPL-2.0

//! Fuzz the radix decoder: it must never panic, and whatever it accepts must
//! re-encode to the very same block.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::{Block, BLOCK_SIZE};
use pvdisk::format::radix::RadixNode;

fn block(data: &[u8]) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    let n = data.len().min(BLOCK_SIZE);
    b[..n].copy_from_slice(&data[..n]);
    b
}

fuzz_target!(|data: &[u8]| {
    let b = block(data);
    let mut out = [0u8; BLOCK_SIZE];
    let nr = u64::from(data.get(4096).copied().unwrap_or(9));
    let level = u32::from(data.get(4097).copied().unwrap_or(1));
    if let Ok(n) = RadixNode::decode(&b, nr, level) {
        n.encode(&mut out, nr, level);
        assert!(out == b);
    }
});
