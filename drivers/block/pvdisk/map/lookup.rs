// SPDX-License-Identifier: GPL-2.0

//! Reads: where a logical block lives, and the physically contiguous
//! extents of a range (one backing bio each).

use super::path::{node_of, run_len, span_len, writable, Path};
use super::{MapError, NodeSource, Tree};
use crate::format::radix::{index_at, ptr_block};

/// Where one logical block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Data block, 0 if sparse (reads as zeros).
    pub block: u64,
    /// True when every link from the root to the data block is writable:
    /// a write may go there in place. Always false when sparse.
    pub writable: bool,
}

/// A run of logical blocks that one bio serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub lba: u64,
    /// Number of blocks, at least 1.
    pub count: u64,
    /// Data block of `lba`; `lba + i` lives at `block + i`. 0 for a sparse
    /// extent (zero-fill).
    pub block: u64,
    /// Writability of every block of the extent (see [`Mapping`]).
    pub writable: bool,
}

impl Extent {
    /// Extends the extent by `next`, the mapping of the block after it,
    /// if that keeps it contiguous and of one kind.
    fn extend(&mut self, next: Mapping) -> bool {
        let contiguous = match (self.block, next.block) {
            (0, 0) => true,
            (0, _) | (_, 0) => false,
            (b, n) => b.checked_add(self.count) == Some(n),
        };
        if contiguous && next.writable == self.writable {
            self.count += 1;
        }
        contiguous && next.writable == self.writable
    }
}

/// Looks up logical block `lba` of `tree`.
pub fn lookup<S: NodeSource + ?Sized>(src: &S, tree: &Tree, lba: u64) -> Result<Mapping, MapError> {
    let e = extent(src, tree, lba, 1)?;
    Ok(Mapping {
        block: e.block,
        writable: e.writable,
    })
}

/// The longest extent that starts at `lba`, is at most `max` blocks long,
/// and is either sparse or physically contiguous with one writability.
/// The caller loops from `lba + count` until its range is covered.
pub fn extent<S: NodeSource + ?Sized>(
    src: &S,
    tree: &Tree,
    lba: u64,
    max: u64,
) -> Result<Extent, MapError> {
    tree.check_range(lba, max)?;
    let end = lba + max;
    let mut found: Option<Extent> = None;
    let mut cur = lba;
    while cur < end {
        let path = Path::walk(src, tree, cur)?;
        let path_writable = path.first_unwritable().is_none();
        let first = index_at(cur, 1);
        let span = span_len(cur, end - cur);
        // Below a sparse link the whole span is one sparse pointer.
        let leaf = path.leaf();
        let ptrs: &[u64] = match leaf {
            0 => &[0],
            b => node_of(src, b, 1)?
                .ptrs
                .get(first..first + span as usize)
                .ok_or(MapError::OutOfRange {
                    lba: cur,
                    count: span,
                })?,
        };
        let Some((&head, rest)) = ptrs.split_first() else {
            return Err(MapError::OutOfRange {
                lba: cur,
                count: span,
            });
        };
        let m = Mapping {
            block: ptr_block(head),
            writable: path_writable && writable(head),
        };
        let e = match found.as_mut() {
            Some(e) => {
                if !e.extend(m) {
                    return Ok(*e);
                }
                e
            }
            None => found.insert(Extent {
                lba,
                count: 1,
                block: m.block,
                writable: m.writable,
            }),
        };
        if leaf == 0 {
            e.count += span - 1;
        } else {
            let n = run_len(head, rest);
            e.count += n as u64;
            if n < rest.len() {
                return Ok(*e);
            }
        }
        cur += span;
    }
    found.ok_or(MapError::OutOfRange { lba, count: max })
}
