// SPDX-License-Identifier: GPL-2.0

//! Fuzz the allocation bitmap decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::bitmap::{BitmapBlock, BITMAP_MAGIC};
use pvdisk_fuzz::{assert_reencodes, extra_byte, id, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    let nr = u64::from(extra_byte(data, 0, 0));
    let extent_blocks = 256 + 1000 * u32::from(extra_byte(data, 1, 0));
    raw_and_sealed(data, id(), BITMAP_MAGIC, nr, |b| {
        if let Ok(m) = BitmapBlock::decode(b, id(), nr, 1, 0, extent_blocks) {
            assert_reencodes(b, |out| m.encode(out, id(), nr));
        }
    });
});
