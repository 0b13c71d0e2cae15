// SPDX-License-Identifier: GPL-2.0

//! The oracle: is what a block of a VDI holds after a crash allowed?
//!
//! A block may hold zeros or a whole valid block of its own VDI and
//! logical address, written there by some operation of the workload; and
//! that operation may not be older than the block's floor (the latest
//! operation on it known durable at the last mark): a write acknowledged
//! before a completed flush, or a completed FUA write, must be there or
//! be overwritten by something issued after it. Zeros are allowed when
//! nothing on the block is durable yet or an operation that leaves zeros
//! (discard, write-zeroes) was issued at or after the floor.

use crate::pattern::Content;

/// How a block breaks the promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Older than its floor: an acknowledged, flushed write (or discard)
    /// is lost.
    Lost {
        /// The floor.
        floor: u32,
        /// What was found.
        found: Content,
    },
    /// Data of another VDI or another block.
    Foreign(Content),
    /// A valid block of this VDI and address whose generation never
    /// wrote this block.
    NeverWritten(u32),
    /// Neither zeros nor a valid block.
    Garbage(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Lost { floor, found } => write!(
                f,
                "lost: gen {} or newer is durable, found {}",
                floor, found
            ),
            Violation::Foreign(c) => write!(f, "another block's data: {}", c),
            Violation::NeverWritten(g) => write!(f, "gen {} never wrote this block", g),
            Violation::Garbage(s) => write!(f, "garbage: {}", s),
        }
    }
}

/// Judges block `lba` of VDI `tag`, holding `c`, with `history` (every
/// operation on it, `(gen, leaves zeros)` in generation order) and
/// durable floor `floor`.
pub fn judge(
    tag: u32,
    lba: u64,
    history: &[(u32, bool)],
    floor: u32,
    c: &Content,
) -> Result<(), Violation> {
    match *c {
        Content::Zero => {
            if floor == 0 || history.iter().any(|&(g, z)| z && g >= floor) {
                Ok(())
            } else {
                Err(Violation::Lost {
                    floor,
                    found: c.clone(),
                })
            }
        }
        Content::Block {
            tag: t,
            lba: l,
            gen,
        } => {
            if t != tag || l != lba {
                Err(Violation::Foreign(c.clone()))
            } else if !history.iter().any(|&(g, z)| !z && g == gen) {
                Err(Violation::NeverWritten(gen))
            } else if gen < floor {
                Err(Violation::Lost {
                    floor,
                    found: c.clone(),
                })
            } else {
                Ok(())
            }
        }
        Content::Garbage(ref s) => Err(Violation::Garbage(s.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blk(tag: u32, lba: u64, gen: u32) -> Content {
        Content::Block { tag, lba, gen }
    }

    #[test]
    fn allowed() {
        let h = [(3, false), (5, true), (8, false)];
        // Nothing durable: anything ever written here, or zeros.
        assert_eq!(judge(1, 7, &h, 0, &Content::Zero), Ok(()));
        assert_eq!(judge(1, 7, &h, 0, &blk(1, 7, 3)), Ok(()));
        // Write 3 durable: 3 and 8 are fine, zeros because of discard 5.
        assert_eq!(judge(1, 7, &h, 3, &blk(1, 7, 3)), Ok(()));
        assert_eq!(judge(1, 7, &h, 3, &blk(1, 7, 8)), Ok(()));
        assert_eq!(judge(1, 7, &h, 3, &Content::Zero), Ok(()));
        assert_eq!(judge(1, 7, &h, 5, &Content::Zero), Ok(()));
    }

    #[test]
    fn violations() {
        let h = [(3, false), (5, true), (8, false)];
        // Write 8 durable: zeros and write 3 are lost writes.
        assert!(matches!(
            judge(1, 7, &h, 8, &Content::Zero),
            Err(Violation::Lost { floor: 8, .. })
        ));
        assert!(matches!(
            judge(1, 7, &h, 8, &blk(1, 7, 3)),
            Err(Violation::Lost { .. })
        ));
        // A durable discard brought back.
        assert!(matches!(
            judge(1, 7, &h, 5, &blk(1, 7, 3)),
            Err(Violation::Lost { .. })
        ));
        // Another block's data, another VDI's.
        assert!(matches!(
            judge(1, 7, &h, 0, &blk(1, 8, 3)),
            Err(Violation::Foreign(_))
        ));
        assert!(matches!(
            judge(1, 7, &h, 0, &blk(2, 7, 3)),
            Err(Violation::Foreign(_))
        ));
        // A generation that never wrote here (5 was the discard).
        assert_eq!(
            judge(1, 7, &h, 0, &blk(1, 7, 5)),
            Err(Violation::NeverWritten(5))
        );
        assert!(matches!(
            judge(1, 7, &h, 0, &Content::Garbage("x".into())),
            Err(Violation::Garbage(_))
        ));
    }
}
