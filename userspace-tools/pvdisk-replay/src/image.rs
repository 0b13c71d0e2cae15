// SPDX-License-Identifier: GPL-2.0

//! The image being rebuilt: a regular file the size of the logged device,
//! written entry by entry, with an undo list for the temporary states
//! (random subsets, dropped writes) and a version per 4 KiB block so the
//! oracle decodes only blocks that changed.

use crate::log::{Entry, Kind, ReadAt};
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

    /// Applies entry `e` of the log in `src`.
    pub fn apply(
        &mut self,
        e: &Entry,
        src: &dyn ReadAt,
        mut undo: Option<&mut Undo>,
    ) -> Result<(), String> {
        if !e.changes_data() {
            return Ok(());
        }
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
            self.write(e.offset + done, &buf, undo.as_deref_mut())?;
            done += n as u64;
        }
        Ok(())
    }

    /// Puts back what `undo` saved, newest first.
    pub fn restore(&mut self, undo: Undo) -> Result<(), String> {
        for (off, old) in undo.0.into_iter().rev() {
            self.write(off, &old, None)?;
        }
        Ok(())
    }
}
