// SPDX-License-Identifier: GPL-2.0

//! The image being rebuilt: a regular file the size of the logged device,
//! written entry by entry, with an undo list for the temporary states
//! (random subsets, dropped writes) and a version per 4 KiB block so the
//! oracle decodes only blocks that changed.
//!
//! With [`Image::keep_newer`], a logged write never puts an older
//! generation of a workload block over a newer one of the same VDI and
//! LBA (see [`Image::apply`]).

use crate::log::{Entry, Kind, ReadAt};
use crate::pattern::{self, Content};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

const BS: u64 = 4096;
const CHUNK: usize = 1 << 20;

/// What a temporary change overwrote, to put back.
#[derive(Debug, Default)]
pub struct Undo(Vec<(u64, Vec<u8>)>);

/// The image.
#[derive(Debug)]
pub struct Image {
    file: File,
    bytes: u64,
    versions: Vec<u64>,
    clock: u64,
    newer_wins: Option<u32>,
}

impl Image {
    /// A new image of `bytes` zeros at `path` (replacing what was there).
    pub fn create(path: &Path, bytes: u64) -> Result<Image, String> {
        let err = |e: std::io::Error| format!("{}: {}", path.display(), e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(err)?;
        file.set_len(bytes).map_err(err)?;
        Ok(Image {
            file,
            bytes,
            versions: vec![0; bytes.div_ceil(BS) as usize],
            clock: 0,
            newer_wins: None,
        })
    }

    /// An image that is there already (a file or a device), read only:
    /// for judging a store as it is.
    pub fn open(path: &Path) -> Result<Image, String> {
        use std::io::{Seek, SeekFrom};
        let err = |e: std::io::Error| format!("{}: {}", path.display(), e);
        let mut file = File::open(path).map_err(err)?;
        let bytes = file.seek(SeekFrom::End(0)).map_err(err)?;
        Ok(Image {
            file,
            bytes,
            versions: vec![0; bytes.div_ceil(BS) as usize],
            clock: 0,
            newer_wins: None,
        })
    }

    /// Its size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The version of 4 KiB block `nr`: it changes whenever the block is
    /// written.
    pub fn version(&self, nr: u64) -> u64 {
        self.versions.get(nr as usize).copied().unwrap_or(0)
    }

    /// Reads 4 KiB block `nr`.
    pub fn read_block(&self, nr: u64, buf: &mut [u8; 4096]) -> Result<(), String> {
        self.file
            .read_exact_at(buf, nr * BS)
            .map_err(|e| format!("image: block {}: {}", nr, e))
    }

    /// Reads `buf.len()` bytes at `off`.
    pub fn read_at(&self, buf: &mut [u8], off: u64) -> Result<(), String> {
        self.file
            .read_exact_at(buf, off)
            .map_err(|e| format!("image: {}", e))
    }

    fn touch(&mut self, off: u64, len: u64) {
        self.clock += 1;
        for b in off / BS..(off + len).div_ceil(BS) {
            self.versions[b as usize] = self.clock;
        }
    }

    /// Writes `data` at `off`, saving what it overwrites in `undo`.
    pub fn write(&mut self, off: u64, data: &[u8], undo: Option<&mut Undo>) -> Result<(), String> {
        let len = data.len() as u64;
        if off.checked_add(len).is_none_or(|end| end > self.bytes) {
            return Err(format!(
                "image: write of {} bytes at {} past its end ({})",
                len, off, self.bytes
            ));
        }
        if let Some(u) = undo {
            let mut old = vec![0u8; data.len()];
            self.file
                .read_exact_at(&mut old, off)
                .map_err(|e| format!("image: {}", e))?;
            u.0.push((off, old));
        }
        self.file
            .write_all_at(data, off)
            .map_err(|e| format!("image: {}", e))?;
        self.touch(off, len);
        Ok(())
    }

    /// From now on, [`Image::apply`] keeps a block of the workload of
    /// pattern seed `seed` where a logged write would put an older
    /// generation of the same VDI and LBA over it.
    ///
    /// dm-log-writes logs a write in the order it learns the write is
    /// durable, not in the order writes reached the device: a plain write
    /// when the flush it was handed to completes (the first flush issued
    /// after the write completed), a FUA write as soon as it completes. So
    /// a write W1 that completed before a newer write W2 to the same
    /// sector was issued can be logged after W2: when W2 is FUA (pvdisk
    /// passes REQ_FUA on to the store with an in-place FUA write) and W1
    /// waits for the next flush, or when W2's flush was issued later but
    /// completed before W1's (the VDIs' workers flush independently).
    /// Replayed in log order, W1 would be the block's last state, which
    /// no crash can leave: the device had W2 over W1 from W2's completion
    /// on. The workload's blocks say which write is newer: per VDI and
    /// LBA, its operations are issued one after another (each after the
    /// previous one was acknowledged) with growing generations.
    ///
    /// It cannot hide a lost write: it only keeps out data older than
    /// what the log already put in the same block. A driver that really
    /// wrote the older data last is caught by comparing the end of the
    /// replay with the device (`--compare`).
    pub fn keep_newer(&mut self, seed: u32) {
        self.newer_wins = Some(seed);
    }

    /// Applies entry `e` of the log in `src`. Returns the 4 KiB blocks it
    /// left out because the image holds a newer generation there (only
    /// with [`Image::keep_newer`]).
    pub fn apply(
        &mut self,
        e: &Entry,
        src: &dyn ReadAt,
        mut undo: Option<&mut Undo>,
    ) -> Result<Vec<u64>, String> {
        let mut kept = Vec::new();
        if !e.changes_data() {
            return Ok(kept);
        }
        let by_block = self.newer_wins.is_some()
            && e.kind != Kind::Discard
            && e.offset.is_multiple_of(BS)
            && e.len.is_multiple_of(BS);
        let mut done = 0u64;
        let mut buf = Vec::new();
        while done < e.len {
            let n = (e.len - done).min(CHUNK as u64) as usize;
            buf.resize(n, 0);
            if e.kind == Kind::Discard {
                buf.fill(0);
            } else {
                src.read_at(&mut buf, e.data_at + done)
                    .map_err(|x| format!("log: entry {} data: {}", e.index, x))?;
            }
            if by_block {
                for (k, new) in buf.chunks_exact(BS as usize).enumerate() {
                    let off = e.offset + done + k as u64 * BS;
                    if self.older(new, off)? {
                        kept.push(off / BS);
                    } else {
                        self.write(off, new, undo.as_deref_mut())?;
                    }
                }
            } else {
                self.write(e.offset + done, &buf, undo.as_deref_mut())?;
            }
            done += n as u64;
        }
        Ok(kept)
    }

    /// True if `new`, to be written at byte `off`, is a workload block
    /// older than the one of the same VDI and LBA the image has there.
    fn older(&self, new: &[u8], off: u64) -> Result<bool, String> {
        let Some(seed) = self.newer_wins else {
            return Ok(false);
        };
        let mut b = [0u8; BS as usize];
        b.copy_from_slice(new);
        let Content::Block { tag, lba, gen } = pattern::decode(&b, seed) else {
            return Ok(false);
        };
        if off + BS > self.bytes {
            return Ok(false);
        }
        self.read_block(off / BS, &mut b)?;
        Ok(matches!(pattern::decode(&b, seed),
            Content::Block { tag: t, lba: l, gen: g } if t == tag && l == lba && g > gen))
    }

    /// Puts back what `undo` saved, newest first.
    pub fn restore(&mut self, undo: Undo) -> Result<(), String> {
        for (off, old) in undo.0.into_iter().rev() {
            self.write(off, &old, None)?;
        }
        Ok(())
    }
}
