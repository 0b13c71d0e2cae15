// SPDX-License-Identifier: GPL-2.0

//! The walk from the root to the leaf node of one logical block: every
//! operation starts here.

use super::{MapError, NodeSource, Tree};
use crate::format::radix::{index_at, ptr_block, ptr_is_ro, RadixNode, FANOUT, MAX_HEIGHT};

/// True if `ptr` links a block in place (not sparse, not read-only).
#[inline]
pub(crate) fn writable(ptr: u64) -> bool {
    ptr_block(ptr) != 0 && !ptr_is_ro(ptr)
}

/// How many of `tail`, the pointers after `head` in a leaf, continue the
/// run `head` starts: each the one before plus one (the next block, the
/// same read-only bit: the block number is the low 63 bits), or, after a
/// sparse one, sparse again. A test on the raw pointers alone.
#[inline]
pub(crate) fn run_len(head: u64, tail: &[u64]) -> usize {
    let mut prev = head;
    tail.iter()
        .take_while(|&&ptr| {
            let next = match ptr_block(prev) {
                0 => prev,
                _ => prev.wrapping_add(1),
            };
            prev = ptr;
            ptr == next
        })
        .count()
}

/// The node at `block`, or the miss that asks the caller to read it.
#[inline]
pub(crate) fn node_of<S: NodeSource + ?Sized>(
    src: &S,
    block: u64,
    level: u32,
) -> Result<&RadixNode, MapError> {
    src.node(block, level)
        .ok_or(MapError::Miss { block, level })
}

/// Blocks from `lba` to the end of its leaf node, at most `count`.
#[inline]
pub(crate) fn span_len(lba: u64, count: u64) -> u64 {
    let left = (FANOUT - index_at(lba, 1)) as u64;
    count.min(left)
}

/// The links from the root down to the leaf node of one logical block.
///
/// Invariant: `link(l)` is the pointer to the path's node at level `l`
/// (`link(height)` is the tree's root pointer); below a sparse link every
/// link is 0. The walk reads every node above the leaf, including those
/// below read-only links, since a change copies them.
pub(crate) struct Path {
    links: [u64; MAX_HEIGHT as usize],
    height: u32,
    lba: u64,
}

impl Path {
    /// Walks `tree` towards logical block `lba`, stopping at the leaf
    /// node's link or at the first sparse link.
    #[inline]
    pub(crate) fn walk<S: NodeSource + ?Sized>(
        src: &S,
        tree: &Tree,
        lba: u64,
    ) -> Result<Path, MapError> {
        let mut path = Path {
            links: [0; MAX_HEIGHT as usize],
            height: tree.height,
            lba,
        };
        let mut link = tree.root;
        let mut level = tree.height;
        while level >= 1 {
            if let Some(slot) = path.links.get_mut(level as usize - 1) {
                *slot = link;
            }
            if ptr_block(link) == 0 || level == 1 {
                break;
            }
            link = node_of(src, ptr_block(link), level)?.get(index_at(lba, level));
            level -= 1;
        }
        Ok(path)
    }

    /// Height of the walked tree.
    pub(crate) fn height(&self) -> u32 {
        self.height
    }

    /// The logical block the path leads to.
    pub(crate) fn lba(&self) -> u64 {
        self.lba
    }

    /// Pointer to the path's node at `level` (0 outside 1..=height).
    #[inline]
    pub(crate) fn link(&self, level: u32) -> u64 {
        let i = level.wrapping_sub(1) as usize;
        self.links.get(i).copied().unwrap_or(0)
    }

    /// Block of the leaf (level 1) node, 0 if the path is sparse above it.
    #[inline]
    pub(crate) fn leaf(&self) -> u64 {
        ptr_block(self.link(1))
    }

    /// The highest level whose link is read-only or sparse: from there
    /// down a change must copy or create the path. `None` when every link
    /// down to the leaf node is writable.
    #[inline]
    pub(crate) fn first_unwritable(&self) -> Option<u32> {
        (1..=self.height).rev().find(|&l| !writable(self.link(l)))
    }

    /// True when some link down to the leaf node is sparse: nothing is
    /// mapped below it.
    pub(crate) fn is_sparse(&self) -> bool {
        (1..=self.height).any(|l| ptr_block(self.link(l)) == 0)
    }
}
