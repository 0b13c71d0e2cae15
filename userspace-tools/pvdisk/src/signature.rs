// SPDX-License-Identifier: GPL-2.0

//! Recognises what a device already holds, so that `format` does not
//! overwrite a file system, a volume or a partition table by mistake
//! (the way `mkfs` and `pvcreate` ask first).

use crate::format::superblock::SUPERBLOCK_MAGIC;

/// Bytes of the device head that [`recognise`] looks at.
pub const HEAD_BYTES: usize = 68 * 1024;

/// What the head of a device says it holds, as a phrase ("an ext2/3/4
/// file system"); `None` if nothing known. `head` is the first
/// [`HEAD_BYTES`] bytes (or fewer for a small device).
pub fn recognise(head: &[u8]) -> Option<&'static str> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, &SUPERBLOCK_MAGIC.to_le_bytes()) {
        return Some("a pvdisk store");
    }
    if at(0, b"XFSB") {
        return Some("an XFS file system");
    }
    if at(1024 + 56, &[0x53, 0xef]) {
        return Some("an ext2/3/4 file system");
    }
    if at(65536 + 64, b"_BHRfS_M") {
        return Some("a btrfs file system");
    }
    if (0..4).any(|s| at(s * 512, b"LABELONE") && at(s * 512 + 24, b"LVM2 001")) {
        return Some("an LVM2 physical volume");
    }
    if at(4096 - 10, b"SWAPSPACE2") || at(4096 - 10, b"SWAP-SPACE") {
        return Some("a swap area");
    }
    if at(512, b"EFI PART") {
        return Some("a GPT partition table");
    }
    if at(510, &[0x55, 0xaa]) {
        return Some("an MBR partition table or boot sector");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(off: usize, bytes: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; HEAD_BYTES];
        h[off..off + bytes.len()].copy_from_slice(bytes);
        h
    }

    #[test]
    fn known_signatures() {
        let cases: [(usize, &[u8], &str); 8] = [
            (0, b"PVSB", "pvdisk"),
            (0, b"XFSB", "XFS"),
            (1080, &[0x53, 0xef], "ext2/3/4"),
            (65600, b"_BHRfS_M", "btrfs"),
            (4086, b"SWAPSPACE2", "swap"),
            (512, b"EFI PART", "GPT"),
            (510, &[0x55, 0xaa], "MBR"),
            (536, b"LVM2 001", "none"),
        ];
        for (off, magic, what) in cases {
            let got = recognise(&with(off, magic)).unwrap_or("none");
            assert!(got.contains(what), "{} at {}: {}", what, off, got);
        }
        let mut lvm = with(512, b"LABELONE");
        lvm[536..544].copy_from_slice(b"LVM2 001");
        assert_eq!(recognise(&lvm), Some("an LVM2 physical volume"));
        assert_eq!(recognise(&[0u8; 100]), None);
        assert_eq!(recognise(&[]), None);
    }
}
