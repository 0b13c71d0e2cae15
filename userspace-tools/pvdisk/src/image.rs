// SPDX-License-Identifier: GPL-2.0

//! Raw images in and out of VDIs.
//!
//! `import` builds a new private tree for the VDI from the image alone and
//! switches the VDI's root to it in one commit at the end: the VDI then
//! reads back exactly as the image (blocks past its end read as zeros),
//! and an import that fails half way leaves the VDI as it was (the blocks
//! it wrote are leaks that gc reclaims). Only the image's data is read
//! (`SEEK_DATA`/`SEEK_HOLE`) and all-zero blocks stay unmapped, so a
//! sparse image imports in the time of its data and zeros cost no blocks.
//! The old tree's private blocks are freed after the commit; blocks shared
//! with snapshots stay theirs.
//!
//! `export` writes only mapped, non-zero blocks into a regular file of the
//! VDI's size, leaving holes elsewhere; to a block device it writes every
//! block.

use crate::bail;
use crate::error::{Error, Result};
use crate::format::extent::ExtentKind;
use crate::format::radix::RadixNode;
use crate::format::vdi::VdiRecord;
use crate::format::BLOCK_SIZE;
use crate::progress::Progress;
use crate::store::Store;
use crate::sys::data_ranges;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};

/// Blocks written between flushes during an import (the new tree's nodes
/// go to disk; nothing links to them until the final commit).
const COMMIT_EVERY: u64 = 16384;
/// Blocks read at a time.
const CHUNK: usize = 256;

/// Counts of an import or export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImageStats {
    /// Blocks of the image.
    pub blocks: u64,
    /// Blocks written (non-zero).
    pub written: u64,
    /// Bytes of the image actually read (its data, not its holes).
    pub read: u64,
}

/// An import in progress: a new private tree for the VDI.
struct Importer<'s> {
    store: &'s mut Store,
    slot: u32,
    rec: VdiRecord,
    root: u64,
    stats: ImageStats,
    since_flush: u64,
}

impl<'s> Importer<'s> {
    fn new(store: &'s mut Store, slot: u32) -> Result<Self> {
        let rec = store.vdi(slot)?;
        let root = store.alloc(ExtentKind::Metadata)?;
        store.insert_new_node(root, rec.height, RadixNode::default());
        Ok(Importer {
            store,
            slot,
            rec,
            root,
            stats: ImageStats::default(),
            since_flush: 0,
        })
    }

    /// Refuses an image of `len` bytes that does not fit the VDI.
    fn check_len(&self, len: u64) -> Result<()> {
        if len > self.rec.size {
            bail!(
                "image is {} ({} bytes) but VDI '{}' holds only {}",
                crate::units::fmt_size(len),
                len,
                self.rec.name(),
                crate::units::fmt_size(self.rec.size)
            );
        }
        Ok(())
    }

    /// Writes the non-zero blocks of `buf` (whole blocks, zero-padded) at
    /// logical block `lba` of the new tree.
    fn put(&mut self, lba: u64, buf: &[u8]) -> Result<()> {
        self.stats.read += buf.len() as u64;
        for (i, chunk) in buf.chunks(BLOCK_SIZE).enumerate() {
            if chunk.iter().all(|&x| x == 0) {
                continue;
            }
            let mut b = [0u8; BLOCK_SIZE];
            b[..chunk.len()].copy_from_slice(chunk);
            self.store
                .write_lba(self.root, self.rec.height, lba + i as u64, &b)?;
            self.stats.written += 1;
            self.since_flush += 1;
        }
        if self.since_flush >= COMMIT_EVERY {
            self.store.flush()?;
            self.since_flush = 0;
        }
        Ok(())
    }

    /// Switches the VDI to the new tree (committed by the caller's
    /// transaction) and frees the old tree's private blocks after it.
    fn finish(self, len: u64) -> Result<ImageStats> {
        let mut rec = self.store.vdi(self.slot)?;
        for b in self.store.private_blocks(rec.root, rec.height)? {
            self.store.free_after_commit(b);
        }
        rec.root = self.root;
        self.store.set_vdi(self.slot, rec);
        Ok(ImageStats {
            blocks: len.div_ceil(BLOCK_SIZE as u64),
            ..self.stats
        })
    }
}

/// Says that an import stopped and left the VDI unchanged.
fn stopped(e: Error, name: &str, done: u64) -> Error {
    e.context(|s| {
        format!(
            "import stopped after {} of the image: {}; VDI '{}' is unchanged (gc reclaims the blocks written)",
            crate::units::fmt_size(done),
            s,
            name
        )
    })
}

/// Imports the regular file or block device `image` into the VDI in
/// `slot`, reading only its data ranges. On failure the store's
/// import is one transaction ([`Store::transact`]): on failure nothing of
/// it is committed.
pub fn import(
    store: &mut Store,
    slot: u32,
    image: &File,
    progress: &mut Progress,
) -> Result<ImageStats> {
    store.transact(|st| import_file(st, slot, image, progress))
}

fn import_file(
    store: &mut Store,
    slot: u32,
    image: &File,
    progress: &mut Progress,
) -> Result<ImageStats> {
    let meta = image.metadata().map_err(|e| Error::io("image", e))?;
    let len = if meta.file_type().is_block_device() {
        // A block device reports 0: ask it for its end.
        use std::io::{Seek, SeekFrom};
        let mut f = image.try_clone().map_err(|e| Error::io("image", e))?;
        f.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("image", e))?
    } else {
        meta.len()
    };
    let mut imp = Importer::new(store, slot)?;
    imp.check_len(len)?;
    let name = imp.rec.name().to_string();
    let ranges = data_ranges(image, len);
    let mut buf = vec![0u8; CHUNK * BLOCK_SIZE];
    for (start, end) in ranges {
        // Whole blocks around the range.
        let mut off = start - start % BLOCK_SIZE as u64;
        while off < end {
            let n = ((end - off) as usize).min(buf.len());
            let want = &mut buf[..n];
            image
                .read_exact_at(want, off)
                .map_err(|e| Error::io(format_args!("image offset {}", off), e))?;
            imp.put(off / BLOCK_SIZE as u64, want)
                .map_err(|e| stopped(e, &name, off))?;
            off += n as u64;
            progress.bytes(off, Some(len));
        }
    }
    let stats = imp.finish(len).map_err(|e| stopped(e, &name, len))?;
    progress.finish();
    Ok(stats)
}

/// Imports a stream (standard input) into the VDI in `slot`; on failure
/// as [`import`].
pub fn import_stream(
    store: &mut Store,
    slot: u32,
    input: &mut dyn Read,
    progress: &mut Progress,
) -> Result<ImageStats> {
    store.transact(|st| import_reader(st, slot, input, progress))
}

fn import_reader(
    store: &mut Store,
    slot: u32,
    input: &mut dyn Read,
    progress: &mut Progress,
) -> Result<ImageStats> {
    let mut imp = Importer::new(store, slot)?;
    let name = imp.rec.name().to_string();
    let mut buf = vec![0u8; CHUNK * BLOCK_SIZE];
    let mut len = 0u64;
    loop {
        let n = read_full(input, &mut buf).map_err(|e| Error::io("standard input", e))?;
        if n == 0 {
            break;
        }
        imp.check_len(len + n as u64)?;
        imp.put(len / BLOCK_SIZE as u64, &buf[..n])
            .map_err(|e| stopped(e, &name, len))?;
        len += n as u64;
        progress.bytes(len, None);
    }
    let stats = imp.finish(len).map_err(|e| stopped(e, &name, len))?;
    progress.finish();
    Ok(stats)
}

/// Reads until `buf` is full or the stream ends; the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The destination of an export. A regular file is written under a
/// temporary name beside it and renamed into place by [`Output::commit`],
/// so a failed export leaves no half-written image and an existing image
/// intact; a block device is written in place.
#[derive(Debug)]
pub struct Output {
    file: File,
    tmp: Option<(PathBuf, PathBuf)>,
}

impl Output {
    /// Opens `path` for an export from `store`. Refuses the store itself
    /// (same file or same block device, through any path) and an existing
    /// regular file unless `force`.
    pub fn create(store: &Store, path: &Path, force: bool) -> Result<Output> {
        refuse_store_itself(store, path)?;
        match std::fs::metadata(path) {
            Ok(m) if m.file_type().is_block_device() => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io(path.display(), e))?;
                return Ok(Output { file, tmp: None });
            }
            Ok(m) if !m.is_file() => {
                bail!(
                    "{}: is neither a regular file nor a block device",
                    path.display()
                )
            }
            Ok(_) if !force => bail!(
                "{}: already exists (use --force to overwrite it)",
                path.display()
            ),
            _ => {}
        }
        let name = path
            .file_name()
            .ok_or_else(|| Error::msg(format!("{}: not a file name", path.display())))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".pvdisk-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(tmp.display(), e))?;
        Ok(Output {
            file,
            tmp: Some((tmp, path.to_path_buf())),
        })
    }

    /// The file to write.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Puts a complete image in place.
    pub fn commit(mut self) -> Result<()> {
        if let Some((tmp, path)) = self.tmp.take() {
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::io(path.display(), e));
            }
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Refuses `path` if it is the store itself.
pub fn refuse_store_itself(store: &Store, path: &Path) -> Result<()> {
    if store.dev.is_same_file(path) {
        bail!(
            "{}: is the store itself; refusing to use it as an image",
            path.display()
        );
    }
    Ok(())
}

/// Exports the tree at `root` (of `height`, `size` bytes) to `out`.
pub fn export(
    store: &mut Store,
    root: u64,
    height: u32,
    size: u64,
    out: &File,
    progress: &mut Progress,
) -> Result<ImageStats> {
    let regular = out
        .metadata()
        .map_err(|e| Error::io("output", e))?
        .is_file();
    if regular {
        out.set_len(0).map_err(|e| Error::io("output", e))?;
        out.set_len(size).map_err(|e| Error::io("output", e))?;
    }
    let blocks = size / BLOCK_SIZE as u64;
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    store.for_each_mapped(root, height, &mut |lba, blk| {
        if lba < blocks {
            mapped.push((lba, blk));
        }
        Ok(())
    })?;
    let mut stats = ImageStats {
        blocks,
        ..ImageStats::default()
    };
    if regular {
        export_sparse(store, &mapped, out, &mut stats, progress)?;
        out.sync_all().map_err(|e| Error::io("output", e))?;
        progress.finish();
        return Ok(stats);
    }
    // A block device: every block written, zeros where nothing is mapped.
    let mut b = [0u8; BLOCK_SIZE];
    let zero = [0u8; BLOCK_SIZE];
    let mut next = 0u64;
    for (i, &(lba, blk)) in mapped.iter().enumerate() {
        while next < lba {
            out.write_all_at(&zero, next * BLOCK_SIZE as u64)
                .map_err(|e| Error::io("output", e))?;
            next += 1;
        }
        if store.kind_of(blk) != Some(ExtentKind::Data) {
            bail!("block {}: data pointer outside a data extent", blk);
        }
        store.read_raw(blk, &mut b)?;
        out.write_all_at(&b, lba * BLOCK_SIZE as u64)
            .map_err(|e| Error::io("output", e))?;
        stats.written += 1;
        next = lba + 1;
        progress.update(|| format!("{}/{} blocks", i, mapped.len()));
    }
    while next < blocks {
        out.write_all_at(&zero, next * BLOCK_SIZE as u64)
            .map_err(|e| Error::io("output", e))?;
        next += 1;
    }
    out.sync_all().map_err(|e| Error::io("output", e))?;
    progress.finish();
    Ok(stats)
}

/// The most blocks [`export_sparse`] reads at once (1 MiB).
const EXPORT_RUN: usize = 256;

/// Writes the non-zero blocks of `mapped` ((LBA, block) in LBA order) to
/// the regular file `out`, which reads as zeros elsewhere. The blocks are
/// read in the order of the store, consecutive ones together: a VDI
/// written at random has its blocks scattered over its LBAs but close
/// together on the store, and one read per block was one device request
/// each.
fn export_sparse(
    store: &Store,
    mapped: &[(u64, u64)],
    out: &File,
    stats: &mut ImageStats,
    progress: &mut Progress,
) -> Result<()> {
    if let Some(&(_, blk)) = mapped
        .iter()
        .find(|&&(_, blk)| store.kind_of(blk) != Some(ExtentKind::Data))
    {
        bail!("block {}: data pointer outside a data extent", blk);
    }
    let mut by_block: Vec<(u64, u64)> = mapped.iter().map(|&(lba, blk)| (blk, lba)).collect();
    by_block.sort_unstable();
    let mut buf = vec![0u8; EXPORT_RUN * BLOCK_SIZE];
    let mut i = 0;
    while i < by_block.len() {
        let first = by_block[i].0;
        let mut n = 1;
        while n < EXPORT_RUN && i + n < by_block.len() && by_block[i + n].0 == first + n as u64 {
            n += 1;
        }
        let run = &mut buf[..n * BLOCK_SIZE];
        store.dev.read_blocks(first, run)?;
        for (k, &(_, lba)) in by_block[i..i + n].iter().enumerate() {
            let b = &run[k * BLOCK_SIZE..(k + 1) * BLOCK_SIZE];
            if b.iter().any(|&x| x != 0) {
                out.write_all_at(b, lba * BLOCK_SIZE as u64)
                    .map_err(|e| Error::io("output", e))?;
                stats.written += 1;
            }
        }
        i += n;
        progress.update(|| format!("{}/{} blocks", i, by_block.len()));
    }
    Ok(())
}
