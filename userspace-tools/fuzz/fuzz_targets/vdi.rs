// SPDX-License-Identifier: GPL-2.0

//! Fuzz the VDI record decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::vdi::{VdiRecord, VDI_MAGIC};
use pvdisk_fuzz::{assert_reencodes, extra_byte, id, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    let nr = u64::from(extra_byte(data, 0, 2));
    raw_and_sealed(data, id(), VDI_MAGIC, nr, |b| {
        if let Ok(r) = VdiRecord::decode(b, id(), nr) {
            let _ = r.name();
            assert_reencodes(b, |out| r.encode(out, id(), nr));
        }
    });
});
