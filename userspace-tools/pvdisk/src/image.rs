// SPDX-License-Identifier: GPL-2.0

//! Raw images in and out of VDIs.
//!
//! `import` writes every non-zero block of the image into the VDI and skips
//! zero blocks (a zero block over an already mapped one is written, so the
//! VDI reads back exactly as the image). `export` writes only mapped,
//! non-zero blocks into a regular file of the VDI's size, leaving holes
//! elsewhere; to a block device it writes every block.

use crate::bail;
use crate::error::{Error, Result};
use crate::format::{Block, BLOCK_SIZE};
use crate::progress::Progress;
use crate::store::Store;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};

/// Blocks written between commits during an import.
const COMMIT_EVERY: u64 = 16384;

/// Counts of an import or export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImageStats {
    /// Blocks of the image.
    pub blocks: u64,
    /// Blocks written (non-zero, or zero over mapped data).
    pub written: u64,
}

/// Imports `image` into the VDI in `slot`.
pub fn import(
    store: &mut Store,
    slot: u32,
    image: &File,
    progress: &mut Progress,
) -> Result<ImageStats> {
    let rec = store.vdi(slot)?;
    let len = image.metadata().map_err(|e| Error::io("image", e))?.len();
    let len = if len == 0 {
        // A block device reports 0: ask it for its end.
        use std::io::{Seek, SeekFrom};
        let mut f = image.try_clone().map_err(|e| Error::io("image", e))?;
        f.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("image", e))?
    } else {
        len
    };
    if len > rec.size {
        bail!(
            "image is {} bytes but VDI '{}' holds only {}",
            len,
            rec.name(),
            rec.size
        );
    }
    let blocks = len.div_ceil(BLOCK_SIZE as u64);
    let mut stats = ImageStats { blocks, written: 0 };
    const CHUNK: u64 = 256;
    let mut buf = vec![0u8; (CHUNK as usize) * BLOCK_SIZE];
    let mut lba = 0u64;
    let mut since_commit = 0u64;
    while lba < blocks {
        let n = CHUNK.min(blocks - lba);
        let off = lba * BLOCK_SIZE as u64;
        let want = ((len - off) as usize).min(n as usize * BLOCK_SIZE);
        buf.fill(0);
        image
            .read_exact_at(&mut buf[..want], off)
            .map_err(|e| Error::io(format_args!("image offset {}", off), e))?;
        for (i, chunk) in buf.chunks_exact(BLOCK_SIZE).take(n as usize).enumerate() {
            let b: &Block = chunk.try_into().map_err(|_| Error::msg("short chunk"))?;
            let l = lba + i as u64;
            if b.iter().all(|&x| x == 0) && store.lookup(rec.root, rec.height, l)?.block == 0 {
                continue;
            }
            store.write_lba(rec.root, rec.height, l, b)?;
            stats.written += 1;
            since_commit += 1;
        }
        if since_commit >= COMMIT_EVERY {
            store.flush()?;
            since_commit = 0;
        }
        lba += n;
        progress.update(|| format!("{}/{} MiB", lba >> 8, blocks >> 8));
    }
    store.flush()?;
    progress.finish();
    Ok(stats)
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
    let mut stats = ImageStats { blocks, written: 0 };
    let mut b = [0u8; BLOCK_SIZE];
    let zero = [0u8; BLOCK_SIZE];
    let mut next = 0u64;
    for (i, &(lba, blk)) in mapped.iter().enumerate() {
        if !regular {
            while next < lba {
                out.write_all_at(&zero, next * BLOCK_SIZE as u64)
                    .map_err(|e| Error::io("output", e))?;
                next += 1;
            }
        }
        if store.kind_of(blk) != Some(crate::format::extent::ExtentKind::Data) {
            bail!("block {}: data pointer outside a data extent", blk);
        }
        store.read_raw(blk, &mut b)?;
        if !regular || b.iter().any(|&x| x != 0) {
            out.write_all_at(&b, lba * BLOCK_SIZE as u64)
                .map_err(|e| Error::io("output", e))?;
            stats.written += 1;
        }
        next = lba + 1;
        progress.update(|| format!("{}/{} blocks", i, mapped.len()));
    }
    if !regular {
        while next < blocks {
            out.write_all_at(&zero, next * BLOCK_SIZE as u64)
                .map_err(|e| Error::io("output", e))?;
            next += 1;
        }
    }
    out.sync_all().map_err(|e| Error::io("output", e))?;
    progress.finish();
    Ok(stats)
}
