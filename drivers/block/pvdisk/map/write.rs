// SPDX-License-Identifier: GPL-2.0

//! Writes: the plan made before the data is written (which blocks go in
//! place, how many blocks to allocate), and the change made after the
//! data write completed (the new mapping enters the in-memory tree only
//! then).

use super::bounded::Bounded;
use super::change::{Change, Rebuild, Update};
use super::path::{node_of, run_len, span_len, writable, Path};
use super::{MapError, NodeSource, Tree};
use crate::format::radix::{capacity_blocks, index_at, ptr_block};

/// Most segments in one [`WritePlan`]; a span that alternates between in
/// place and new blocks more often is cut short.
pub const MAX_SEGMENTS: usize = 8;

/// Where a segment's data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Overwrite data blocks `block, block + 1, ...` in place.
    InPlace {
        /// Data block of the segment's first logical block.
        block: u64,
    },
    /// New data blocks `data + first, data + first + 1, ...`, where
    /// `data` is the first of the consecutive data blocks the caller
    /// allocates for the plan.
    Fresh {
        /// Offset of the segment's first block in the allocated run.
        first: u32,
    },
}

/// Consecutive logical blocks with one kind of target: one bio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First logical block.
    pub lba: u64,
    /// Number of blocks.
    pub count: u32,
    /// Where the data goes.
    pub target: Target,
}

/// The plan of a write to one span, made before the data is written.
///
/// Invariant: the segments cover `lba..lba + count` in order, within one
/// leaf node; the fresh ones number their blocks `0..new_data` in logical
/// order, and the caller allocates them as one consecutive run, so
/// consecutive logical blocks get consecutive data blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    lba: u64,
    count: u64,
    segments: Bounded<Segment, MAX_SEGMENTS>,
    new_nodes: u32,
    new_data: u32,
}

impl WritePlan {
    /// First logical block of the plan.
    pub fn lba(&self) -> u64 {
        self.lba
    }

    /// Logical blocks the plan covers; the caller plans the rest of its
    /// range from `lba + count`.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The segments, in logical order.
    pub fn segments(&self) -> &[Segment] {
        self.segments.as_slice()
    }

    /// Node blocks to allocate: the read-only or sparse part of the path.
    pub fn new_nodes(&self) -> u32 {
        self.new_nodes
    }

    /// Data blocks to allocate, one per fresh block, as one consecutive
    /// run (a caller that cannot find one plans a shorter `count`).
    pub fn new_data(&self) -> u32 {
        self.new_data
    }

    /// Node blocks this plan needs when `prev`, the plan of the span just
    /// before it in the same request, is applied first: the new nodes of
    /// the path the two share are created once, by `prev`.
    pub fn new_nodes_after(&self, prev: &WritePlan) -> u32 {
        let shared = (2..=self.new_nodes.min(prev.new_nodes))
            .filter(|&level| same_node(self.lba, prev.lba, level))
            .count() as u32;
        self.new_nodes.saturating_sub(shared)
    }

    /// True when every block is written in place: no allocation, no
    /// change to the tree, nothing to commit.
    pub fn is_in_place(&self) -> bool {
        self.new_nodes == 0 && self.new_data == 0
    }

    /// Adds the next block of the span, merged into the last segment when
    /// it continues it; false when a new segment does not fit.
    fn add(&mut self, target_block: Option<u64>) -> bool {
        let lba = self.lba + self.count;
        let target = match target_block {
            Some(block) => Target::InPlace { block },
            None => Target::Fresh {
                first: self.new_data,
            },
        };
        let merged = match self.segments.last_mut() {
            Some(last) if continues(last, target) => {
                last.count += 1;
                true
            }
            _ => self.segments.push(Segment {
                lba,
                count: 1,
                target,
            }),
        };
        if merged {
            self.count += 1;
            if target_block.is_none() {
                self.new_data += 1;
            }
        }
        merged
    }

    /// Adds the next `n` (at least 1) blocks of the span, which continue
    /// one another: in place at `target_block`, `target_block + 1`, ...,
    /// or all fresh. As [`WritePlan::add`] block by block: false, with
    /// nothing added, when the first needs a segment that does not fit.
    fn add_run(&mut self, target_block: Option<u64>, n: u32) -> bool {
        if !self.add(target_block) {
            return false;
        }
        // The rest continue the segment the first went into.
        let rest = n.saturating_sub(1);
        if let Some(last) = self.segments.last_mut() {
            last.count += rest;
        }
        self.count += u64::from(rest);
        if target_block.is_none() {
            self.new_data += rest;
        }
        true
    }
}

/// How many of `tail` continue the fresh or in-place run that pointer
/// `head` starts: in place, a physical run ([`run_len`]); otherwise each
/// one not writable (sparse or read-only: a fresh block each).
fn write_run_len(head: u64, tail: &[u64]) -> usize {
    if writable(head) {
        run_len(head, tail)
    } else {
        tail.iter().take_while(|&&ptr| !writable(ptr)).count()
    }
}

/// True when logical blocks `a` and `b` are below the same node at
/// `level`.
fn same_node(a: u64, b: u64, level: u32) -> bool {
    let covered = capacity_blocks(level);
    a / covered == b / covered
}

/// True when `next` is the target of the block after `seg`.
fn continues(seg: &Segment, next: Target) -> bool {
    match (seg.target, next) {
        (Target::InPlace { block }, Target::InPlace { block: n }) => {
            block.checked_add(seg.count.into()) == Some(n)
        }
        (Target::Fresh { .. }, Target::Fresh { .. }) => true,
        _ => false,
    }
}

/// Plans a write of `lba..lba + count` (or of its first span): in place
/// where every link down to the data block is writable, otherwise to new
/// data blocks below a copied or created path.
pub fn plan_write<S: NodeSource + ?Sized>(
    src: &S,
    tree: &Tree,
    lba: u64,
    count: u64,
) -> Result<WritePlan, MapError> {
    tree.check_range(lba, count)?;
    let span = span_len(lba, count);
    let path = Path::walk(src, tree, lba)?;
    let mut plan = WritePlan {
        lba,
        count: 0,
        segments: Bounded::new(Segment {
            lba,
            count: 0,
            target: Target::Fresh { first: 0 },
        }),
        new_nodes: 0,
        new_data: 0,
    };
    if let Some(top) = path.first_unwritable() {
        // Below a read-only or sparse link every block is new.
        plan.new_nodes = top;
        // `span` is at most a node's fan-out.
        plan.add_run(None, span as u32);
        return Ok(plan);
    }
    let first = index_at(lba, 1);
    let mut rest = node_of(src, path.leaf(), 1)?
        .ptrs
        .get(first..first + span as usize)
        .ok_or(MapError::OutOfRange { lba, count })?;
    // A run of blocks at a time: in place and physically consecutive, or
    // fresh.
    while let Some((&head, tail)) = rest.split_first() {
        let n = 1 + write_run_len(head, tail);
        let in_place = writable(head).then(|| ptr_block(head));
        if !plan.add_run(in_place, n as u32) {
            break;
        }
        rest = tail.get(n - 1..).unwrap_or(&[]);
    }
    Ok(plan)
}

/// The change that links `plan`'s fresh blocks, once their data is
/// written to `data..data + new_data`, with new nodes from `nodes`.
///
/// The path is walked again, so the change is right for the tree as it is
/// now: a node created meanwhile by another change is reused (and the
/// node block meant for it is left unused, see [`Change::nodes_used`]), a
/// path made read-only meanwhile by a snapshot is copied, which may need
/// more nodes than planned ([`MapError::NeedBlocks`]). The caller must
/// not apply two plans for one logical block concurrently.
pub fn apply_write<S: NodeSource + ?Sized>(
    src: &S,
    tree: &Tree,
    plan: &WritePlan,
    nodes: &[u64],
    data: u64,
) -> Result<Change, MapError> {
    tree.check_range(plan.lba, plan.count)?;
    if plan.is_in_place() {
        // Nothing to link, whatever happened to the path since.
        return Ok(Change::new(plan.count));
    }
    let path = Path::walk(src, tree, plan.lba)?;
    let rebuild = Rebuild::new(src, &path, 1, nodes)?;
    let (leaf, leaf_is_new) = rebuild.bottom_node();
    let mut change = Change::new(plan.count);
    rebuild.push_bottom(&mut change)?;
    for seg in plan.segments() {
        if let Target::Fresh { first } = seg.target {
            change.push(Update::SetPtrs {
                node: leaf,
                level: 1,
                index: index_at(seg.lba, 1) as u32,
                count: seg.count,
                first: data.saturating_add(first.into()),
                commit: !leaf_is_new,
            })?;
        }
    }
    rebuild.push_above(&mut change)?;
    Ok(change)
}
