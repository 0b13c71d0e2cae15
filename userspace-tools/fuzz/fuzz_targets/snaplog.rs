// SPDX-License-Identifier: GPL-2.0

//! Fuzz the snapshot-log decoder; see the crate's documentation.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::format::snaplog::{SnapLogBlock, SNAPLOG_MAGIC};
use pvdisk_fuzz::{assert_reencodes, extra_byte, id, raw_and_sealed};

fuzz_target!(|data: &[u8]| {
    let nr = u64::from(extra_byte(data, 0, 9));
    raw_and_sealed(data, id(), SNAPLOG_MAGIC, nr, |b| {
        if let Ok(l) = SnapLogBlock::decode(b, id(), nr) {
            for e in l.used() {
                let _ = e.label();
            }
            assert_reencodes(b, |out| l.encode(out, id(), nr));
        }
    });
});
