// SPDX-License-Identifier: GPL-2.0

//! The 4 KiB block, its common header and little-endian field helpers.
//!
//! Every metadata block starts with the same 16-byte header:
//!
//! ```text
//!   0        4        8                16
//!   +--------+--------+----------------+----------------- - -
//!   | magic  | crc32c | own block nr   | type-specific body
//!   +--------+--------+----------------+----------------- - -
//! ```
//!
//! The crc32c covers the store's UUID, then the whole block except the crc
//! field itself (bytes 0..4 then 8..4096): it is seeded with the UUID
//! through a [`StoreId`]. A block copied from another store therefore fails
//! the checksum like a torn one, even at the same block number. Only the
//! superblock, which carries the UUID, has a plain checksum
//! ([`StoreId::PLAIN`]). Decoding checks, in this order, the magic (foreign
//! or wrong-type block), the checksum (torn, rotted or another store's
//! block) and the block number (misdirected write or read), and only then
//! looks at the body.
//!
//! Fields are read with `get(..)` and `try_into`, so no offset arithmetic can
//! panic, whatever the bytes hold.

use super::crc32c::crc32c_update;
use core::fmt;

/// Size of every block on a pvdisk store, in bytes.
pub const BLOCK_SIZE: usize = 4096;
/// `log2(BLOCK_SIZE)`.
pub const BLOCK_SHIFT: u32 = 12;
/// One block of a store.
pub type Block = [u8; BLOCK_SIZE];
/// Size of the common metadata header.
pub const HEADER_SIZE: usize = 16;

const OFF_MAGIC: usize = 0;
const OFF_CRC: usize = 4;
const OFF_BLOCKNR: usize = 8;

/// Builds a magic number from four ASCII bytes (stored little-endian, so a
/// hex dump shows the letters in order).
pub const fn magic(tag: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*tag)
}

/// The store a metadata block belongs to, as the crc32c state after the
/// store's 16-byte UUID. Every decoder and encoder except the
/// superblock's takes one; the driver makes it once per store with
/// [`StoreId::from_uuid`] (or `Superblock::store_id`) and passes it by
/// value (it is a `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreId(u32);

impl StoreId {
    /// No store: the plain crc32c of the block. Used for the superblock.
    pub const PLAIN: StoreId = StoreId(!0);

    /// The identity of the store whose superblock holds `uuid`.
    pub fn from_uuid(uuid: &[u8; 16]) -> StoreId {
        StoreId(crc32c_update(!0, uuid))
    }
}

/// Why a block was refused. Every decoder returns this, never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The block does not carry the magic of the expected block type.
    BadMagic {
        /// Block number that was read.
        block: u64,
        /// Magic the caller expected.
        expected: u32,
        /// Magic found on disk.
        found: u32,
    },
    /// The stored crc32c does not match the block's contents.
    BadChecksum {
        /// Block number that was read.
        block: u64,
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum computed over the contents.
        computed: u32,
    },
    /// The block is intact but says it belongs somewhere else.
    Misdirected {
        /// Block number that was read.
        block: u64,
        /// Block number recorded in the header.
        found: u64,
    },
    /// A field holds a value the format does not allow.
    BadField {
        /// Block number that was read.
        block: u64,
        /// Name of the offending field.
        field: &'static str,
        /// The value found (truncated to 64 bits where wider).
        value: u64,
    },
    /// The superblock has a format version this code does not know.
    UnsupportedVersion {
        /// Version found on disk.
        version: u32,
    },
    /// The superblock sets incompatible features this code does not know.
    UnknownIncompat {
        /// The unknown feature bits.
        flags: u64,
    },
    /// A geometry request that cannot be laid out (too small, too large).
    BadGeometry {
        /// What is wrong, as a phrase.
        reason: &'static str,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::BadMagic {
                block,
                expected,
                found,
            } => write!(
                f,
                "block {}: bad magic {:#010x} (expected {:#010x})",
                block, found, expected
            ),
            FormatError::BadChecksum {
                block,
                stored,
                computed,
            } => write!(
                f,
                "block {}: bad checksum (stored {:#010x}, computed {:#010x})",
                block, stored, computed
            ),
            FormatError::Misdirected { block, found } => {
                write!(
                    f,
                    "block {}: misdirected, header says block {}",
                    block, found
                )
            }
            FormatError::BadField {
                block,
                field,
                value,
            } => write!(f, "block {}: bad {} ({})", block, field, value),
            FormatError::UnsupportedVersion { version } => {
                write!(f, "block 0: unsupported format version {}", version)
            }
            FormatError::UnknownIncompat { flags } => {
                write!(f, "block 0: unknown incompatible features {:#x}", flags)
            }
            FormatError::BadGeometry { reason } => write!(f, "bad geometry: {}", reason),
        }
    }
}

/// Result of a decoder.
pub type Result<T> = core::result::Result<T, FormatError>;

/// Reads a little-endian `u16` at `off`; 0 if out of range (never happens
/// for the constant offsets used by this module).
pub fn get_u16(b: &[u8], off: usize) -> u16 {
    b.get(off..off.wrapping_add(2))
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .unwrap_or(0)
}

/// Reads a little-endian `u32` at `off`; 0 if out of range.
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off.wrapping_add(4))
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// Reads a little-endian `u64` at `off`; 0 if out of range.
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    b.get(off..off.wrapping_add(8))
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// Writes `bytes` at `off` if the range fits (it always does for the
/// constant offsets used by this module).
pub fn put_bytes(b: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(off..off.wrapping_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// Writes a little-endian `u16` at `off`.
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    put_bytes(b, off, &v.to_le_bytes());
}

/// Writes a little-endian `u32` at `off`.
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put_bytes(b, off, &v.to_le_bytes());
}

/// Writes a little-endian `u64` at `off`.
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put_bytes(b, off, &v.to_le_bytes());
}

/// Copies a fixed-size field of `N` bytes at `off`.
pub fn get_array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    b.get(off..off.wrapping_add(N))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0u8; N])
}

/// The crc32c of the store's UUID (through `id`) followed by the block,
/// skipping the crc field itself.
pub fn block_crc(b: &Block, id: StoreId) -> u32 {
    let head = b.get(..OFF_CRC).unwrap_or(&[]);
    let tail = b.get(OFF_BLOCKNR..).unwrap_or(&[]);
    !crc32c_update(crc32c_update(id.0, head), tail)
}

/// Fills in the header of an encoded block of store `id`: magic, own block
/// number, and last the checksum over everything else.
pub fn seal(b: &mut Block, id: StoreId, magic: u32, blocknr: u64) {
    put_u32(b, OFF_MAGIC, magic);
    put_u64(b, OFF_BLOCKNR, blocknr);
    let crc = block_crc(b, id);
    put_u32(b, OFF_CRC, crc);
}

/// The magic found in a block, whatever it is (for diagnostics).
pub fn block_magic(b: &Block) -> u32 {
    get_u32(b, OFF_MAGIC)
}

/// Checks the header of a block of store `id` read from `blocknr`: magic,
/// checksum, then block number.
pub fn verify(b: &Block, id: StoreId, magic: u32, blocknr: u64) -> Result<()> {
    let found = get_u32(b, OFF_MAGIC);
    if found != magic {
        return Err(FormatError::BadMagic {
            block: blocknr,
            expected: magic,
            found,
        });
    }
    let stored = get_u32(b, OFF_CRC);
    let computed = block_crc(b, id);
    if stored != computed {
        return Err(FormatError::BadChecksum {
            block: blocknr,
            stored,
            computed,
        });
    }
    let own = get_u64(b, OFF_BLOCKNR);
    if own != blocknr {
        return Err(FormatError::Misdirected {
            block: blocknr,
            found: own,
        });
    }
    Ok(())
}

/// Returns a `BadField` error for `block`.
pub fn bad_field(block: u64, field: &'static str, value: u64) -> FormatError {
    FormatError::BadField {
        block,
        field,
        value,
    }
}

/// Length of a NUL-padded name field: bytes up to the first NUL.
pub fn name_len(field: &[u8]) -> usize {
    field.iter().position(|&c| c == 0).unwrap_or(field.len())
}

/// Validates a NUL-padded UTF-8 name field: UTF-8 up to the first NUL, only
/// NULs after it, no control characters.
pub fn check_name(block: u64, field: &'static str, bytes: &[u8]) -> Result<()> {
    let len = name_len(bytes);
    let (name, pad) = bytes.split_at(len);
    if pad.iter().any(|&c| c != 0) {
        return Err(bad_field(block, field, len as u64));
    }
    match core::str::from_utf8(name) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => Ok(()),
        _ => Err(bad_field(block, field, len as u64)),
    }
}

/// The string in a NUL-padded name field that passed [`check_name`]; an
/// empty string if it is not UTF-8.
pub fn name_str(bytes: &[u8]) -> &str {
    let name = bytes.get(..name_len(bytes)).unwrap_or(&[]);
    core::str::from_utf8(name).unwrap_or("")
}

/// Builds a NUL-padded name field; `None` if `name` is too long, contains a
/// NUL or a control character.
pub fn make_name<const N: usize>(name: &str) -> Option<[u8; N]> {
    if name.len() > N || name.chars().any(|c| c.is_control()) {
        return None;
    }
    let mut out = [0u8; N];
    put_bytes(&mut out, 0, name.as_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u32 = magic(b"TEST");
    const ID: StoreId = StoreId::PLAIN;

    #[test]
    fn seal_then_verify() {
        let mut b = [0u8; BLOCK_SIZE];
        put_u64(&mut b, 100, 0xdead_beef);
        seal(&mut b, ID, M, 42);
        assert_eq!(verify(&b, ID, M, 42), Ok(()));
        assert!(matches!(
            verify(&b, ID, M, 43),
            Err(FormatError::Misdirected {
                block: 43,
                found: 42
            })
        ));
        assert!(matches!(
            verify(&b, ID, magic(b"XXXX"), 42),
            Err(FormatError::BadMagic { .. })
        ));
    }

    #[test]
    fn every_byte_flip_is_caught() {
        let mut b = [0u8; BLOCK_SIZE];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 7) as u8;
        }
        seal(&mut b, ID, M, 9);
        for i in 0..BLOCK_SIZE {
            let mut c = b;
            c[i] ^= 0x10;
            assert!(verify(&c, ID, M, 9).is_err(), "flip at {} not caught", i);
        }
    }

    #[test]
    fn another_stores_block_is_refused() {
        let a = StoreId::from_uuid(&[1u8; 16]);
        let mut uuid = [1u8; 16];
        uuid[15] = 2;
        let b_id = StoreId::from_uuid(&uuid);
        let mut b = [0u8; BLOCK_SIZE];
        put_u64(&mut b, 100, 7);
        seal(&mut b, a, M, 5);
        assert_eq!(verify(&b, a, M, 5), Ok(()));
        assert!(matches!(
            verify(&b, b_id, M, 5),
            Err(FormatError::BadChecksum { block: 5, .. })
        ));
        assert!(verify(&b, StoreId::PLAIN, M, 5).is_err());
    }

    #[test]
    fn names() {
        let n: [u8; 8] = make_name("abc").unwrap();
        assert_eq!(check_name(0, "name", &n), Ok(()));
        assert_eq!(name_str(&n), "abc");
        assert!(make_name::<2>("abc").is_none());
        assert!(make_name::<8>("a\nb").is_none());
        let mut bad = n;
        bad[5] = b'x';
        assert!(check_name(0, "name", &bad).is_err());
        let utf8 = [0xffu8, 0, 0, 0];
        assert!(check_name(0, "name", &utf8).is_err());
    }

    #[test]
    fn display_has_context() {
        let e = FormatError::BadChecksum {
            block: 8123,
            stored: 1,
            computed: 2,
        };
        let mut s = [0u8; 96];
        let mut w = Buf(&mut s, 0);
        fmt::write(&mut w, format_args!("{}", e)).unwrap();
        let n = w.1;
        assert!(core::str::from_utf8(&s[..n])
            .unwrap()
            .starts_with("block 8123: bad checksum"));
    }

    struct Buf<'a>(&'a mut [u8], usize);
    impl fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
}
