// SPDX-License-Identifier: GPL-2.0

//! Fuzz the superblock decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::superblock::{Superblock, SUPERBLOCK_MAGIC};
use pvdisk::format::StoreId;
use pvdisk_fuzz::{assert_reencodes, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    raw_and_sealed(data, StoreId::PLAIN, SUPERBLOCK_MAGIC, 0, |b| {
        if let Ok(sb) = Superblock::decode(b) {
            assert_reencodes(b, |out| sb.encode(out));
        }
    });
});
