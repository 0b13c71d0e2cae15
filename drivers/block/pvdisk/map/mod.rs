// SPDX-License-Identifier: GPL-2.0

//! The radix map of one VDI, as pure logic: lookup, write planning
//! (in place or copy-on-write), unmap and snapshot roots.
//!
//! Like [`crate::format`], this module uses only `core` (no alloc, no std,
//! no external crates, no floating point, no `unsafe`, no panics), and
//! both the kernel driver and the host tests compile this very directory
//! through `#[path]`, next to `mod format;`:
//!
//! ```ignore
//! #[path = "map/mod.rs"]
//! mod map;
//! ```
//!
//! The map never does I/O and never changes a node itself. It reads nodes
//! through a [`NodeSource`] (the kernel's node cache) and answers either
//! with a result or with [`MapError::Miss`]: the node is not in memory, so
//! a context that may not sleep (queue_rq) hands the request to a worker,
//! which reads the node and calls again. Changes come back as a
//! [`Change`]: a short, ordered list of [`Update`]s that the caller makes
//! to its in-memory nodes. Each update says whether it touches a node that
//! nothing on disk links yet (a new node) or a node already linked (the
//! *commit node*, written in place only after the new nodes are durable),
//! which is all the commit of Documentation/data-path-map.rst needs.
//!
//! Every operation but [`extent`] works on at most one leaf node's worth
//! of logical blocks at a time (the *span* of `lba`: up to the end of its
//! level-1 node), so every path it touches is one root-to-leaf path and
//! all the sizes are bounded by [`MAX_HEIGHT`] and [`MAX_SEGMENTS`]. The
//! result says how many blocks it covers; the caller calls again for the
//! rest.
//!
//! The order for each request:
//!
//! * read: [`extent`] until the range is covered (one bio per extent,
//!   sparse extents zero-filled);
//! * write: [`plan_write`] for every span of the request; if all are
//!   [`WritePlan::is_in_place`], write the data to the planned blocks and
//!   stop. Otherwise allocate the plans' [`WritePlan::new_data`] as one
//!   run of consecutive data blocks and their node blocks
//!   ([`WritePlan::new_nodes`], then [`WritePlan::new_nodes_after`] the
//!   previous plan), write the data, then [`apply_write`] each plan in
//!   order and make its updates in memory;
//! * discard / write-zeroes: [`unmap`] (allocate and call again on
//!   [`MapError::NeedBlocks`]), make its updates, free its
//!   [`Update::Free`] blocks after the commit;
//! * snapshot / clone: [`read_only_root`].
//!
//! [`MAX_HEIGHT`]: crate::format::radix::MAX_HEIGHT

#![forbid(unsafe_code)]

mod bounded;
mod change;
mod lookup;
mod path;
mod snapshot;
mod unmap;
mod write;

pub use change::{Change, Update, MAX_UPDATES};
pub use lookup::{extent, lookup, Extent, Mapping};
pub use snapshot::read_only_root;
pub use unmap::unmap;
pub use write::{apply_write, plan_write, Segment, Target, WritePlan, MAX_SEGMENTS};

use crate::format::radix::{capacity_blocks, RadixNode, MAX_HEIGHT};

/// Where the map reads radix nodes: the kernel's node cache, or a test's
/// in-memory store. Implementations never block.
pub trait NodeSource {
    /// The decoded node at `block`, expected at `level`, if it is in
    /// memory; `None` makes the map answer [`MapError::Miss`].
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode>;
}

/// One VDI's (or snapshot's) tree, as its VDI record describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// Pointer to the root node. Writable for a VDI's live root; with
    /// [`PTR_RO`](crate::format::radix::PTR_RO) set, the root itself is
    /// copied by the first change, which then ends in [`Update::SetRoot`].
    pub root: u64,
    /// Tree height, 1..=[`MAX_HEIGHT`]: the root is at this level.
    pub height: u32,
    /// Size of the VDI in blocks; no operation reaches past it.
    pub blocks: u64,
}

impl Tree {
    /// Checks the geometry and that `lba..lba + count` is a non-empty
    /// range inside the VDI.
    #[inline]
    fn check_range(&self, lba: u64, count: u64) -> Result<(), MapError> {
        if self.height == 0
            || self.height > MAX_HEIGHT
            || self.blocks > capacity_blocks(self.height)
        {
            return Err(MapError::BadHeight(self.height));
        }
        match lba.checked_add(count) {
            Some(end) if count > 0 && end <= self.blocks => Ok(()),
            _ => Err(MapError::OutOfRange { lba, count }),
        }
    }
}

/// Why a map operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Node `block` at `level` is not in memory: read it into the cache
    /// (from a context that may sleep), then call again.
    Miss {
        /// Block of the missing node.
        block: u64,
        /// Its level in the tree (1 = points to data).
        level: u32,
    },
    /// The caller gave fewer blocks than the change needs: allocate that
    /// many in all, then call again.
    NeedBlocks {
        /// Node blocks needed.
        nodes: u32,
        /// Data blocks needed.
        data: u32,
    },
    /// The range is empty or reaches past the end of the VDI.
    OutOfRange {
        /// First logical block asked for.
        lba: u64,
        /// Number of blocks asked for.
        count: u64,
    },
    /// The tree's height is 0, above `MAX_HEIGHT`, or too small for its
    /// size.
    BadHeight(u32),
    /// The tree has no root, or the new root given is block 0.
    NoRoot,
    /// A change needed more updates than [`MAX_UPDATES`]: a bug in the
    /// map, reported instead of a panic.
    TooManyUpdates,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::Miss { block, level } => {
                write!(f, "radix node {} (level {}) not cached", block, level)
            }
            MapError::NeedBlocks { nodes, data } => {
                write!(f, "needs {} node and {} data blocks", nodes, data)
            }
            MapError::OutOfRange { lba, count } => {
                write!(f, "blocks {}+{} outside the VDI", lba, count)
            }
            MapError::BadHeight(h) => write!(f, "bad tree height {}", h),
            MapError::NoRoot => write!(f, "no root"),
            MapError::TooManyUpdates => write!(f, "change too large"),
        }
    }
}
