// SPDX-License-Identifier: GPL-2.0

//! Fuzz the radix node decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::radix::{radix_magic, RadixNode};
use pvdisk_fuzz::{assert_reencodes, extra_byte, id, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    let nr = u64::from(extra_byte(data, 0, 9));
    let level = 1 + u32::from(extra_byte(data, 1, 0)) % 7;
    raw_and_sealed(data, id(), radix_magic(level), nr, |b| {
        if let Ok(n) = RadixNode::decode(b, id(), nr, level) {
            assert_reencodes(b, |out| n.encode(out, id(), nr, level));
        }
    });
});
