// SPDX-License-Identifier: GPL-2.0

//! Host ids, as the kernel driver computes them for the holds it writes
//! (`attached_by` in a VDI record, `owner` in a catalogue entry): FNV-1a
//! 64-bit of the UTS nodename (the hostname) bytes, 0 mapped to 1 since 0
//! means "no hold". The tool reads the hostname from
//! `/proc/sys/kernel/hostname`, the same string the kernel hashes, so it
//! can tell a hold of this host from one of another.

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Where the kernel shows the UTS nodename of the caller's namespace.
const HOSTNAME: &str = "/proc/sys/kernel/hostname";

/// FNV-1a 64-bit of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// A hash as a host id: 0 means "no hold" on disk, so it becomes 1.
pub fn nonzero(h: u64) -> u64 {
    if h == 0 {
        1
    } else {
        h
    }
}

/// The host id of a host named `nodename` (the bytes of its hostname).
pub fn host_id(nodename: &[u8]) -> u64 {
    nonzero(fnv1a64(nodename))
}

/// This host's id, from `/proc/sys/kernel/hostname` (without its
/// trailing newline); `None` if it cannot be read.
pub fn this_host() -> Option<u64> {
    let raw = std::fs::read(HOSTNAME).ok()?;
    let name = raw.strip_suffix(b"\n").unwrap_or(&raw);
    Some(host_id(name))
}

/// How a hold's host is named in the tool's output: `host N`, with
/// ` (this host)` when `host` is `this` (this host's id).
pub fn describe(host: u64, this: Option<u64>) -> String {
    if this == Some(host) {
        format!("host {} (this host)", host)
    } else {
        format!("host {}", host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_vectors() {
        // The reference vectors of the FNV specification.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(host_id(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn zero_is_no_hold_so_it_becomes_one() {
        assert_eq!(nonzero(0), 1);
        assert_eq!(nonzero(1), 1);
        assert_eq!(nonzero(42), 42);
    }

    #[test]
    fn this_host_hashes_the_proc_hostname() {
        let Ok(raw) = std::fs::read(HOSTNAME) else {
            return;
        };
        let name = raw.strip_suffix(b"\n").unwrap_or(&raw);
        assert!(!name.ends_with(b"\n"));
        assert_eq!(this_host(), Some(host_id(name)));
        let me = this_host().unwrap();
        assert_eq!(describe(me, Some(me)), format!("host {} (this host)", me));
        assert_eq!(describe(42, Some(43)), "host 42");
        assert_eq!(describe(42, None), "host 42");
    }
}
