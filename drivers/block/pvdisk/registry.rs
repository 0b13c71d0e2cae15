// SPDX-License-Identifier: GPL-2.0

//! Disk numbers: `/dev/pvdiskN` gets the lowest free N.
//!
//! Only used when a disk is powered on or off, never on the data path.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// The most disks one host can have powered at once.
pub(crate) const MAX_DISKS: usize = 256;

static USED: [AtomicU64; MAX_DISKS / 64] = [const { AtomicU64::new(0) }; MAX_DISKS / 64];

/// Reserve the lowest free disk number.
pub(crate) fn take() -> Result<usize> {
    for (word_index, word) in USED.iter().enumerate() {
        let mut current = word.load(Ordering::Relaxed);
        while current != u64::MAX {
            let bit = (!current).trailing_zeros();
            match word.compare_exchange(
                current,
                current | (1 << bit),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(word_index * 64 + bit as usize),
                Err(now) => current = now,
            }
        }
    }
    Err(ENOSPC)
}

/// Give back a number from [`take`].
pub(crate) fn give_back(index: usize) {
    if let Some(word) = USED.get(index / 64) {
        word.fetch_and(!(1 << (index % 64)), Ordering::AcqRel);
    }
}
