// SPDX-License-Identifier: GPL-2.0

//! Reachability by levels, shared by `check` and `gc`.
//!
//! Parallax's collector marks level by level: all roots first, then every
//! node they point to, sorted by block number so that reads sweep the
//! metadata extents in order, then the next level down, and last the data
//! pointers (which are counted, never read). Reachability is a bitmap over
//! the whole store held in memory (one bit per 4 KiB block, 32 KiB per
//! GiB). While walking, every pointer is validated: inside an extent of the
//! right kind, not on a bitmap block, marked allocated, and the node behind
//! it has the right magic, level, block number and checksum.
//!
//! The copy-on-write invariant is checked on the way: a block reached from a
//! live VDI root through writable links only must be reached exactly once in
//! the whole store; otherwise a write through that path would change data
//! seen by another root (a snapshot, or another VDI).

use crate::alloc::ExtentBitmap;
use crate::dev::BlockIo;
use crate::error::Result;
use crate::finding::{Finding, Problem};
use crate::format::extent::ExtentKind;
use crate::format::radix::{ptr_block, ptr_is_ro, RadixNode, MAX_HEIGHT};
use crate::format::{Block, StoreId, BLOCK_SIZE};
use crate::progress::Progress;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A plain bitmap over block numbers.
#[derive(Debug, Clone)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// All clear, for `n` bits.
    pub fn new(n: u64) -> Self {
        Bits(vec![0; n.div_ceil(64) as usize])
    }
    /// Bit `i`.
    pub fn get(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Sets bit `i`.
    pub fn set(&mut self, i: u64) {
        if let Some(w) = self.0.get_mut((i / 64) as usize) {
            *w |= 1 << (i % 64);
        }
    }
    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// What a walk found.
#[derive(Debug)]
pub struct Walk {
    /// Blocks reachable from live VDIs and live snapshots (nodes, logs, data).
    pub reach: Bits,
    /// Radix nodes reached.
    pub nodes: u64,
    /// Snapshot-log blocks reached.
    pub logs: u64,
    /// Data blocks reached.
    pub data: u64,
    /// Live VDIs walked.
    pub vdis: u64,
    /// Live snapshots walked.
    pub snapshots: u64,
    /// Corruption found, one sentence each, block number first.
    pub corrupt: Vec<Finding>,
    /// Bitmaps of metadata and data extents (those that decoded).
    pub bitmaps: BTreeMap<u32, ExtentBitmap>,
}

type Frontier = Vec<(u64, bool)>;

impl Walk {
    /// Walks every live VDI and snapshot of `store`.
    pub fn run(store: &mut Store, progress: &mut Progress) -> Result<Walk> {
        let total = store.sb.total_blocks;
        let mut w = Walk {
            reach: Bits::new(total),
            nodes: 0,
            logs: 0,
            data: 0,
            vdis: 0,
            snapshots: 0,
            corrupt: Vec::new(),
            bitmaps: BTreeMap::new(),
        };
        for e in 0..store.sb.extent_count {
            let kind = store.extents[e as usize].kind;
            if matches!(kind, ExtentKind::Metadata | ExtentKind::Data) {
                match store.load_bitmap(e) {
                    Ok(bm) => {
                        w.bitmaps.insert(e, bm);
                    }
                    Err(err) => w
                        .corrupt
                        .push(Finding::new(Problem::Damaged, err.to_string())),
                }
            }
        }
        w.corrupt.extend(
            store
                .bad_slots
                .iter()
                .map(|(_, why)| Finding::new(Problem::Damaged, why.clone())),
        );
        let mut frontier: Vec<Frontier> = vec![Vec::new(); MAX_HEIGHT as usize + 1];
        for (slot, rec) in store.live_vdis() {
            w.vdis += 1;
            push(&mut frontier, rec.height, rec.root, true);
            match store.read_log(&rec) {
                Ok(log) => {
                    for (nr, l) in &log {
                        w.logs += 1;
                        w.claim(store, *nr, ExtentKind::Metadata, "snapshot-log block");
                        for e in l.used().iter().filter(|e| !e.is_deleted()) {
                            w.snapshots += 1;
                            push(&mut frontier, rec.height, e.root, false);
                        }
                    }
                }
                Err(err) => w.corrupt.push(Finding::new(
                    Problem::Damaged,
                    format!("{} (VDI slot {})", err, slot),
                )),
            }
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        for level in (1..=MAX_HEIGHT).rev() {
            let f = std::mem::take(&mut frontier[level as usize]);
            let groups = group(f);
            let mut readable: Vec<(u64, bool)> = Vec::with_capacity(groups.len());
            for (blk, refs, writable) in groups {
                if w.claim(store, blk, ExtentKind::Metadata, "radix node") {
                    w.check_shared(blk, refs, writable);
                    readable.push((blk, writable));
                }
            }
            // Read and verify the level in parallel: each thread takes a
            // contiguous share of the sorted blocks, so reads stay sequential.
            let n = readable.len();
            let done = AtomicUsize::new(0);
            let share = n.div_ceil(threads).max(1024);
            let dev: &dyn BlockIo = &*store.dev;
            let id = store.id;
            let outs: Vec<LevelOut> = std::thread::scope(|sc| {
                let mut parts = readable.chunks(share);
                let mine = parts.next().unwrap_or(&[]);
                let handles: Vec<_> = parts
                    .map(|part| {
                        let done = &done;
                        sc.spawn(move || read_level(dev, id, level, part, done, None))
                    })
                    .collect();
                let mut outs = vec![read_level(
                    dev,
                    id,
                    level,
                    mine,
                    &done,
                    Some((&mut *progress, n)),
                )];
                for h in handles {
                    outs.push(h.join().unwrap_or_else(|_| LevelOut {
                        corrupt: vec![Finding::new(
                            Problem::Damaged,
                            "internal error: walker thread panicked",
                        )],
                        ..LevelOut::default()
                    }));
                }
                outs
            });
            for mut o in outs {
                w.nodes += o.nodes;
                w.corrupt.append(&mut o.corrupt);
                frontier[level as usize - 1].append(&mut o.children);
            }
        }
        let f = std::mem::take(&mut frontier[0]);
        for (blk, refs, writable) in group(f) {
            if w.claim(store, blk, ExtentKind::Data, "data block") {
                w.data += 1;
                w.check_shared(blk, refs, writable);
            }
        }
        progress.finish();
        Ok(w)
    }

    /// Validates a pointer to `blk` that should be of `kind` and marks it
    /// reached; false if it must not be followed.
    fn claim(&mut self, store: &Store, blk: u64, kind: ExtentKind, what: &str) -> bool {
        let Some(e) = store.sb.extent_of(blk) else {
            self.corrupt.push(Finding::new(
                Problem::Pointer,
                format!("block {}: {} pointer beyond the last extent", blk, what),
            ));
            return false;
        };
        let actual = store.extents[e as usize].kind;
        if actual != kind {
            self.corrupt.push(Finding::new(
                Problem::Pointer,
                format!(
                    "block {}: {} pointer into {} extent {}",
                    blk,
                    what,
                    actual.name(),
                    e
                ),
            ));
            return false;
        }
        let off = (blk - store.sb.extent_start(e)) as u32;
        if off < store.sb.bitmap_blocks() {
            self.corrupt.push(Finding::new(
                Problem::Pointer,
                format!("block {}: {} pointer onto a bitmap block", blk, what),
            ));
            return false;
        }
        if self.reach.get(blk) {
            self.corrupt.push(Finding::new(
                Problem::Pointer,
                format!("block {}: reached as a {} and as something else", blk, what),
            ));
            return false;
        }
        self.reach.set(blk);
        if let Some(bm) = self.bitmaps.get(&e) {
            if !bm.get(off) {
                self.corrupt.push(Finding::new(
                    Problem::Bitmap,
                    format!(
                        "block {}: {} in use but marked free in the bitmap",
                        blk, what
                    ),
                ));
            }
        }
        true
    }

    fn check_shared(&mut self, blk: u64, refs: u32, writable: bool) {
        if writable && refs > 1 {
            self.corrupt.push(Finding::new(
                Problem::Sharing,
                format!(
                "block {}: writable from a live VDI but referenced {} times (shared blocks must be read-only)",
                blk, refs
            )));
        }
    }
}

/// What one thread found at one level.
#[derive(Default)]
struct LevelOut {
    children: Frontier,
    corrupt: Vec<Finding>,
    nodes: u64,
}

/// Reads and decodes the sorted nodes `items` at `level`, coalescing runs of
/// consecutive blocks into one read of up to 1 MiB.
fn read_level(
    dev: &dyn BlockIo,
    id: StoreId,
    level: u32,
    items: &[(u64, bool)],
    done: &AtomicUsize,
    mut progress: Option<(&mut Progress, usize)>,
) -> LevelOut {
    let mut out = LevelOut::default();
    let mut buf = vec![0u8; 256 * BLOCK_SIZE];
    let mut i = 0;
    while i < items.len() {
        let start = items[i].0;
        let mut j = i + 1;
        while j < items.len() && j - i < 256 && items[j].0 == start + (j - i) as u64 {
            j += 1;
        }
        let run = &mut buf[..(j - i) * BLOCK_SIZE];
        if let Err(err) = dev.read_blocks(start, run) {
            out.corrupt
                .push(Finding::new(Problem::Damaged, err.to_string()));
            i = j;
            continue;
        }
        for (k, chunk) in run.chunks_exact(BLOCK_SIZE).enumerate() {
            let (blk, writable) = items[i + k];
            let Ok(b) = <&Block>::try_from(chunk) else {
                continue;
            };
            match RadixNode::decode(b, id, blk, level) {
                Ok(node) => {
                    out.nodes += 1;
                    for &p in node.ptrs.iter().filter(|&&p| ptr_block(p) != 0) {
                        out.children.push((ptr_block(p), writable && !ptr_is_ro(p)));
                    }
                }
                Err(err) => out
                    .corrupt
                    .push(Finding::new(Problem::Damaged, err.to_string())),
            }
        }
        let total = done.fetch_add(j - i, Ordering::Relaxed) + (j - i);
        if let Some((p, n)) = progress.as_mut() {
            p.update(|| format!("level {}: {}/{} nodes", level, total, n));
        }
        i = j;
    }
    out
}

fn push(frontier: &mut [Frontier], level: u32, blk: u64, writable: bool) {
    if let Some(f) = frontier.get_mut(level as usize) {
        f.push((blk, writable));
    }
}

/// Sorts arrivals and folds them into (block, references, any writable).
fn group(mut f: Frontier) -> Vec<(u64, u32, bool)> {
    f.sort_unstable_by_key(|&(b, _)| b);
    let mut out: Vec<(u64, u32, bool)> = Vec::with_capacity(f.len());
    for (b, wr) in f {
        match out.last_mut() {
            Some(last) if last.0 == b => {
                last.1 += 1;
                last.2 |= wr;
            }
            _ => out.push((b, 1, wr)),
        }
    }
    out
}
