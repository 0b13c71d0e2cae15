// SPDX-License-Identifier: GPL-2.0

//! The on-disk log of the kernel's dm-log-writes target
//! (`Documentation/admin-guide/device-mapper/log-writes.rst`).
//!
//! The log device starts with a superblock in its first sector:
//!
//! ```text
//! le64 magic        0x6a736677736872
//! le64 version      1
//! le64 nr_entries   entries logged (updated at marks, FUA writes and removal)
//! le32 sectorsize   the logical block size of the logged device
//! ```
//!
//! and from byte `sectorsize` on, `nr_entries` entries one after the
//! other. An entry is one sector of `sectorsize` bytes holding its header
//!
//! ```text
//! le64 sector       where the write went, in units of sectorsize
//! le64 nr_sectors   its length, in units of sectorsize
//! le64 flags        FLUSH 1, FUA 2, DISCARD 4, MARK 8, METADATA 16
//! le64 data_len     the length of a mark's text
//! ```
//!
//! (a mark's text follows the header in the same sector), then, unless it
//! is a discard, the `nr_sectors` sectors of data written. Entries are in
//! the order the data reached stable storage as far as the target can
//! tell: writes are logged when the flush after them completes, just
//! before that flush's entry; FUA writes and marks when they complete.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// The superblock's magic number.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only log version there is.
pub const VERSION: u64 = 1;
/// Entry flag: a flush (`REQ_PREFLUSH`), with or without data.
pub const FLUSH: u64 = 1 << 0;
/// Entry flag: a FUA write.
pub const FUA: u64 = 1 << 1;
/// Entry flag: a discard (no data in the log).
pub const DISCARD: u64 = 1 << 2;
/// Entry flag: a mark set by `dmsetup message DEV 0 mark NAME`.
pub const MARK: u64 = 1 << 3;
/// Entry flag: a write with `REQ_META`.
pub const METADATA: u64 = 1 << 4;
const KNOWN: u64 = FLUSH | FUA | DISCARD | MARK | METADATA;
/// Size of an entry header.
pub const HEADER: usize = 32;

/// Something the log can be read from: a device or file, or bytes.
pub trait ReadAt {
    /// Reads exactly `buf.len()` bytes at `off`.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// The size in bytes.
    fn size(&self) -> io::Result<u64>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.read_exact_at(buf, off)
    }
    fn size(&self) -> io::Result<u64> {
        // Works for block devices too, whose metadata says 0.
        let mut f = self;
        f.seek(SeekFrom::End(0))
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let start = usize::try_from(off).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= self.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Data written (FUA or not).
    Write,
    /// A discarded range: no data in the log.
    Discard,
    /// A flush. A flush with data is the flush first, then the write.
    Flush,
    /// A mark, with its text.
    Mark(String),
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the log, from 0.
    pub index: usize,
    /// What it is.
    pub kind: Kind,
    /// Its flags as logged.
    pub flags: u64,
    /// Byte offset on the logged device.
    pub offset: u64,
    /// Bytes written or discarded.
    pub len: u64,
    /// Byte offset of its data in the log.
    pub data_at: u64,
}

impl Entry {
    /// True if applying it changes the device (a write, a discard, or a
    /// flush with data).
    pub fn changes_data(&self) -> bool {
        self.len > 0 && !matches!(self.kind, Kind::Mark(_))
    }
    /// True if it is a flush.
    pub fn is_flush(&self) -> bool {
        self.kind == Kind::Flush
    }
    /// The mark's text, if it is one.
    pub fn mark(&self) -> Option<&str> {
        match &self.kind {
            Kind::Mark(m) => Some(m),
            _ => None,
        }
    }
}

/// A parsed log: the sector size and the entries (their data stays in
/// the log and is read when an entry is applied).
#[derive(Debug, Clone)]
pub struct Log {
    /// The logged device's logical block size.
    pub sectorsize: u32,
    /// The entries, in log order.
    pub entries: Vec<Entry>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// Reads the superblock and every entry header of the log in `src`.
pub fn parse(src: &dyn ReadAt) -> Result<Log, String> {
    let size = src.size().map_err(|e| format!("log: size: {}", e))?;
    let mut sb = [0u8; 28];
    src.read_at(&mut sb, 0)
        .map_err(|e| format!("log: superblock: {}", e))?;
    if le64(&sb, 0) != MAGIC {
        return Err(format!(
            "log: no dm-log-writes superblock (magic {:#x}, want {:#x})",
            le64(&sb, 0),
            MAGIC
        ));
    }
    if le64(&sb, 8) != VERSION {
        return Err(format!("log: unknown version {}", le64(&sb, 8)));
    }
    let count = le64(&sb, 16);
    let sectorsize = le32(&sb, 24);
    if !sectorsize.is_power_of_two() || !(512..=65536).contains(&sectorsize) {
        return Err(format!("log: bad sector size {}", sectorsize));
    }
    let ss = u64::from(sectorsize);
    if count > size / ss {
        return Err(format!(
            "log: {} entries cannot fit in {} bytes",
            count, size
        ));
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut hdr = vec![0u8; sectorsize as usize];
    let mut pos = ss;
    for index in 0..count as usize {
        let bad = |what: String| format!("log: entry {} at byte {}: {}", index, pos, what);
        if pos.checked_add(ss).is_none_or(|end| end > size) {
            return Err(bad("past the end of the log".into()));
        }
        src.read_at(&mut hdr, pos).map_err(|e| bad(e.to_string()))?;
        let sector = le64(&hdr, 0);
        let nr = le64(&hdr, 8);
        let flags = le64(&hdr, 16);
        let data_len = le64(&hdr, 24);
        if flags & !KNOWN != 0 {
            return Err(bad(format!("unknown flags {:#x}", flags)));
        }
        let offset = sector
            .checked_mul(ss)
            .ok_or_else(|| bad("sector out of range".into()))?;
        let len = nr
            .checked_mul(ss)
            .ok_or_else(|| bad("length out of range".into()))?;
        let data_at = pos + ss;
        let is_mark = flags & MARK != 0;
        let kind = if is_mark {
            if data_len > ss - HEADER as u64 {
                return Err(bad(format!("mark of {} bytes", data_len)));
            }
            let text = &hdr[HEADER..HEADER + data_len as usize];
            Kind::Mark(String::from_utf8_lossy(text).into_owned())
        } else if flags & DISCARD != 0 {
            Kind::Discard
        } else if flags & FLUSH != 0 {
            Kind::Flush
        } else {
            Kind::Write
        };
        let logged = if kind == Kind::Discard || is_mark {
            0
        } else {
            len
        };
        pos = data_at
            .checked_add(logged)
            .filter(|&end| end <= size)
            .ok_or_else(|| bad(format!("{} bytes of data past the end of the log", len)))?;
        entries.push(Entry {
            index,
            kind,
            flags,
            offset,
            len: if is_mark { 0 } else { len },
            data_at,
        });
    }
    Ok(Log {
        sectorsize,
        entries,
    })
}

/// Writes logs in the kernel's format, for tests (the kernel target is
/// what writes real ones).
#[derive(Debug)]
pub struct Builder {
    sectorsize: u32,
    bytes: Vec<u8>,
    count: u64,
}

impl Builder {
    /// An empty log of `sectorsize` sectors.
    pub fn new(sectorsize: u32) -> Builder {
        Builder {
            sectorsize,
            bytes: vec![0u8; sectorsize as usize],
            count: 0,
        }
    }

    fn entry(&mut self, byte: u64, len: u64, flags: u64, text: &[u8]) {
        let ss = u64::from(self.sectorsize);
        let mut h = vec![0u8; self.sectorsize as usize];
        h[0..8].copy_from_slice(&(byte / ss).to_le_bytes());
        h[8..16].copy_from_slice(&(len / ss).to_le_bytes());
        h[16..24].copy_from_slice(&flags.to_le_bytes());
        h[24..32].copy_from_slice(&(text.len() as u64).to_le_bytes());
        h[HEADER..HEADER + text.len()].copy_from_slice(text);
        self.bytes.extend_from_slice(&h);
        self.count += 1;
    }

    /// A write of `data` at byte `at` (both multiples of the sector size).
    pub fn write(&mut self, at: u64, data: &[u8], flags: u64) -> &mut Self {
        self.entry(at, data.len() as u64, flags, b"");
        self.bytes.extend_from_slice(data);
        self
    }

    /// A discard of `len` bytes at `at`.
    pub fn discard(&mut self, at: u64, len: u64) -> &mut Self {
        self.entry(at, len, DISCARD, b"");
        self
    }

    /// An empty flush.
    pub fn flush(&mut self) -> &mut Self {
        self.entry(0, 0, FLUSH, b"");
        self
    }

    /// A mark.
    pub fn mark(&mut self, name: &str) -> &mut Self {
        self.entry(0, 0, MARK, name.as_bytes());
        self
    }

    /// The log's bytes.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        out[8..16].copy_from_slice(&VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..28].copy_from_slice(&self.sectorsize.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_builder_writes() {
        let mut b = Builder::new(512);
        b.write(4096, &[7u8; 8192], 0)
            .discard(65536, 4096)
            .flush()
            .mark("setup")
            .write(0, &[1u8; 4096], FUA | METADATA);
        let bytes = b.finish();
        let log = parse(&bytes).unwrap();
        assert_eq!(log.sectorsize, 512);
        let e = &log.entries;
        assert_eq!(e.len(), 5);
        assert_eq!(
            (e[0].kind.clone(), e[0].offset, e[0].len),
            (Kind::Write, 4096, 8192)
        );
        assert_eq!(e[0].data_at, 1024);
        assert_eq!(
            (e[1].kind.clone(), e[1].offset, e[1].len),
            (Kind::Discard, 65536, 4096)
        );
        // No data after a discard: the flush's header follows at once.
        assert_eq!(e[2].data_at, e[1].data_at + 512);
        assert!(e[2].is_flush() && !e[2].changes_data());
        assert_eq!(e[3].mark(), Some("setup"));
        assert_eq!(e[4].flags, FUA | METADATA);
        let mut d = [0u8; 4096];
        bytes.read_at(&mut d, e[4].data_at).unwrap();
        assert_eq!(d, [1u8; 4096]);
    }

    #[test]
    fn a_4k_sector_log() {
        let mut b = Builder::new(4096);
        b.write(8192, &[3u8; 4096], 0).mark("m");
        let log = parse(&b.finish()).unwrap();
        assert_eq!(log.entries[0].offset, 8192);
        assert_eq!(log.entries[0].data_at, 8192);
        assert_eq!(log.entries[1].mark(), Some("m"));
    }

    #[test]
    fn refuses_damaged_logs() {
        let mut b = Builder::new(512);
        b.write(0, &[1u8; 4096], 0).flush();
        let good = b.finish();

        let mut bad = good.clone();
        bad[0] ^= 1;
        assert!(parse(&bad).unwrap_err().contains("magic"));

        let mut bad = good.clone();
        bad[8] = 2;
        assert!(parse(&bad).unwrap_err().contains("version"));

        let mut bad = good.clone();
        bad[24..28].copy_from_slice(&1000u32.to_le_bytes());
        assert!(parse(&bad).unwrap_err().contains("sector size"));

        // An unknown flag in the first entry.
        let mut bad = good.clone();
        bad[512 + 16] = 0x40;
        assert!(parse(&bad).unwrap_err().contains("unknown flags"));

        // Truncated in the middle of the first entry's data.
        let bad = good[..512 + 512 + 1000].to_vec();
        assert!(parse(&bad).unwrap_err().contains("past the end"));

        // More entries claimed than there are.
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&3u64.to_le_bytes());
        assert!(parse(&bad).unwrap_err().contains("entry 2"));
    }
}
