// SPDX-License-Identifier: GPL-2.0

//! Fuzz the extent catalogue decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::extent::{CatalogueBlock, CATALOGUE_MAGIC};
use pvdisk_fuzz::{assert_reencodes, extra_byte, id, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    let nr = u64::from(extra_byte(data, 0, 1));
    raw_and_sealed(data, id(), CATALOGUE_MAGIC, nr, |b| {
        if let Ok(c) = CatalogueBlock::decode(b, id(), nr) {
            assert_reencodes(b, |out| c.encode(out, id(), nr));
        }
    });
});
