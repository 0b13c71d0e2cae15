// SPDX-License-Identifier: GPL-2.0

//! Fuzz the superblock decoder: it must never panic, and whatever it accepts
//! must re-encode to the very same block. The input is tried as it is and
//! again with a valid header (magic, block number, checksum) so that the
//! fuzzer reaches the field checks behind the checksum.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::block::seal;
use pvdisk::format::superblock::{Superblock, SUPERBLOCK_MAGIC};
use pvdisk::format::{Block, BLOCK_SIZE};

fn block(data: &[u8]) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    let n = data.len().min(BLOCK_SIZE);
    b[..n].copy_from_slice(&data[..n]);
    b
}

#[allow(unused_variables)]
fn run(b: &Block, nr: u64, level: u32, data: &[u8]) {
    let mut out = [0u8; BLOCK_SIZE];
    if let Ok(sb) = Superblock::decode(b) {
        sb.encode(&mut out);
        assert!(out == *b);
    }
}

fuzz_target!(|data: &[u8]| {
    let nr = 0;
    let level = 1;
    let raw = block(data);
    run(&raw, nr, level, data);
    let mut sealed = raw;
    seal(&mut sealed, SUPERBLOCK_MAGIC, nr);
    run(&sealed, nr, level, data);
});
