// SPDX-License-Identifier: GPL-2.0

//! Which host this is, as written into the holds of a store (the
//! `attached_by` field of VDI records and the `owner` of extents).
//!
//! A host is its name: the 64-bit FNV-1a hash of the UTS node name
//! (`uname -n`), with 0 (which means "no host") mapped to 1. The tool
//! computes the same value from `/proc/sys/kernel/hostname`, so it can say
//! "this host" next to a hold, and a host that crashed finds its own
//! holds again after a reboot. Two hosts sharing a store must have
//! different names; the cluster phase replaces holds with leases.

use kernel::utsname;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `bytes`, never 0.
fn host_id_of(bytes: &[u8]) -> u64 {
    let hash = bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    });
    if hash == 0 {
        1
    } else {
        hash
    }
}

/// This host's id, from its current name.
pub(crate) fn this_host() -> u64 {
    let mut buf = [0u8; utsname::NODENAME_LEN];
    host_id_of(utsname::nodename(&mut buf))
}
