// SPDX-License-Identifier: GPL-2.0

//! The crash workload's journal: which operations it issued, which were
//! acknowledged and in what order, and the marks it set in the
//! dm-log-writes log when a flush or a FUA write had completed. A text
//! file, one record a line, in any order (threads write it):
//!
//! ```text
//! pvdisk-crash-journal 1
//! seed SEED                       the pattern seed of the blocks
//! vdi TAG NAME BLOCKS             a VDI written by the workload
//! op TAG GEN KIND LBA N           issued: KIND W write, F FUA write,
//!                                 D discard, Z write-zeroes
//! ack TAG GEN SEQ                 acknowledged, SEQ-th acknowledgement
//! mark NAME flush TAG SEQ         a flush of TAG completed; it was issued
//!                                 after the acknowledgements before SEQ
//! mark NAME fua TAG GEN           the FUA write GEN of TAG completed
//! mark NAME snap TAG SEQ          a snapshot of TAG completed, taken after
//!                                 the acknowledgements before SEQ (durable
//!                                 as after a flush)
//! end                             the workload finished
//! ```
//!
//! A journal of a killed machine may end inside a record:
//! [`Journal::parse_cut`] reads it up to its last newline.
//!
//! From it the oracle knows, for every block, every operation that could
//! have left data there, and at each mark the *floor*: the operation on
//! the block that is durable from that mark on (the block must hold it
//! or something issued after it).

use std::collections::HashMap;

/// An operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A write.
    Write,
    /// A write with `RWF_DSYNC` (FUA).
    Fua,
    /// A discard (leaves zeros).
    Discard,
    /// Write-zeroes.
    Zero,
}

impl OpKind {
    /// True if the operation leaves zeros.
    pub fn zeroes(self) -> bool {
        matches!(self, OpKind::Discard | OpKind::Zero)
    }
}

/// One operation of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Its generation (per VDI, in issue order per block).
    pub gen: u32,
    /// What it did.
    pub kind: OpKind,
    /// First block.
    pub lba: u64,
    /// Blocks.
    pub n: u64,
    /// Its place in the order of acknowledgements, if acknowledged.
    pub ack: Option<u64>,
}

/// A VDI the workload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vdi {
    /// Its tag in the blocks.
    pub tag: u32,
    /// Its name in the store.
    pub name: String,
    /// Blocks used.
    pub blocks: u64,
    /// Its operations, by generation.
    pub ops: Vec<Op>,
}

/// What a mark says became durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// A flush of VDI `tag` completed; every operation of that VDI
    /// acknowledged before acknowledgement `seq` is durable.
    Flush {
        /// The VDI.
        tag: u32,
        /// Acknowledgements before it.
        seq: u64,
    },
    /// The FUA write `gen` of VDI `tag` completed.
    Fua {
        /// The VDI.
        tag: u32,
        /// The write.
        gen: u32,
    },
}

/// A parsed journal.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    /// The pattern seed.
    pub seed: u32,
    /// The VDIs, by tag order.
    pub vdis: Vec<Vdi>,
    /// The marks, by name.
    pub marks: HashMap<String, Mark>,
    /// True if the workload finished (`end`).
    pub complete: bool,
}

fn num<T: std::str::FromStr>(w: Option<&str>, line: usize) -> Result<T, String> {
    w.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("journal line {}: bad or missing number", line))
}

impl Journal {
    /// Parses a journal's text.
    pub fn parse(text: &str) -> Result<Journal, String> {
        let mut j = Journal::default();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, "pvdisk-crash-journal 1")) => {}
            _ => return Err("journal: no 'pvdisk-crash-journal 1' header".into()),
        }
        let mut acks: Vec<(u32, u32, u64)> = Vec::new();
        for (i, line) in lines {
            let n = i + 1;
            let mut w = line.split_whitespace();
            match w.next() {
                None => {}
                Some("seed") => j.seed = num(w.next(), n)?,
                Some("vdi") => {
                    let tag = num(w.next(), n)?;
                    let name = w.next().ok_or(format!("journal line {}: no name", n))?;
                    let blocks = num(w.next(), n)?;
                    j.vdis.push(Vdi {
                        tag,
                        name: name.to_string(),
                        blocks,
                        ops: Vec::new(),
                    });
                }
                Some("op") => {
                    let tag: u32 = num(w.next(), n)?;
                    let gen = num(w.next(), n)?;
                    let kind = match w.next() {
                        Some("W") => OpKind::Write,
                        Some("F") => OpKind::Fua,
                        Some("D") => OpKind::Discard,
                        Some("Z") => OpKind::Zero,
                        _ => return Err(format!("journal line {}: bad op kind", n)),
                    };
                    let lba = num(w.next(), n)?;
                    let cnt = num(w.next(), n)?;
                    let v = j.vdi_mut(tag, n)?;
                    v.ops.push(Op {
                        gen,
                        kind,
                        lba,
                        n: cnt,
                        ack: None,
                    });
                }
                Some("ack") => acks.push((num(w.next(), n)?, num(w.next(), n)?, num(w.next(), n)?)),
                Some("mark") => {
                    let name = w
                        .next()
                        .ok_or(format!("journal line {}: no mark name", n))?;
                    let m = match w.next() {
                        Some("flush") | Some("snap") => Mark::Flush {
                            tag: num(w.next(), n)?,
                            seq: num(w.next(), n)?,
                        },
                        Some("fua") => Mark::Fua {
                            tag: num(w.next(), n)?,
                            gen: num(w.next(), n)?,
                        },
                        _ => return Err(format!("journal line {}: bad mark", n)),
                    };
                    j.marks.insert(name.to_string(), m);
                }
                Some("end") => j.complete = true,
                Some(x) => return Err(format!("journal line {}: unknown record '{}'", n, x)),
            }
        }
        for v in &mut j.vdis {
            v.ops.sort_by_key(|o| o.gen);
            if v.ops.windows(2).any(|w| w[0].gen == w[1].gen) {
                return Err(format!("journal: VDI {} has a generation twice", v.name));
            }
            if let Some(o) = v.ops.iter().find(|o| o.n == 0 || o.lba + o.n > v.blocks) {
                return Err(format!(
                    "journal: VDI {} op gen {} outside its {} blocks",
                    v.name, o.gen, v.blocks
                ));
            }
        }
        for (tag, gen, seq) in acks {
            let v = j.vdi_mut(tag, 0)?;
            let i = v
                .ops
                .binary_search_by_key(&gen, |o| o.gen)
                .map_err(|_| format!("journal: ack of unknown op {} of tag {}", gen, tag))?;
            v.ops[i].ack = Some(seq);
        }
        Ok(j)
    }

    /// Parses the journal of a machine that may have been killed while
    /// writing it: the text up to its first NUL byte (the rest of the
    /// device is zeros) and its last newline (a record cut short is left
    /// out).
    pub fn parse_cut(text: &str) -> Result<Journal, String> {
        let text = text.split('\0').next().unwrap_or("");
        let end = text.rfind('\n').map_or(0, |i| i + 1);
        Journal::parse(&text[..end])
    }

    fn vdi_mut(&mut self, tag: u32, line: usize) -> Result<&mut Vdi, String> {
        self.vdis
            .iter_mut()
            .find(|v| v.tag == tag)
            .ok_or(format!("journal line {}: unknown VDI tag {}", line, tag))
    }

    /// The VDI of `tag`, by index.
    pub fn index_of(&self, tag: u32) -> Option<usize> {
        self.vdis.iter().position(|v| v.tag == tag)
    }
}

/// Every operation that touched each block: `(gen, leaves zeros)`, in
/// generation order, per VDI and block.
#[derive(Debug, Clone)]
pub struct History(pub Vec<Vec<Vec<(u32, bool)>>>);

impl History {
    /// The histories of every block of the journal's VDIs.
    pub fn new(j: &Journal) -> History {
        History(
            j.vdis
                .iter()
                .map(|v| {
                    let mut h = vec![Vec::new(); v.blocks as usize];
                    for o in &v.ops {
                        for b in o.lba..o.lba + o.n {
                            h[b as usize].push((o.gen, o.kind.zeroes()));
                        }
                    }
                    h
                })
                .collect(),
        )
    }
}

/// The durable floor of every block: the generation of the latest
/// operation on it known durable (0: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floors(pub Vec<Vec<u32>>);

impl Floors {
    /// Nothing durable yet.
    pub fn new(j: &Journal) -> Floors {
        Floors(j.vdis.iter().map(|v| vec![0; v.blocks as usize]).collect())
    }

    /// Raises the floors by what mark `name` says (marks not in the
    /// journal, such as the test's own, say nothing). Returns true if the
    /// journal knows the mark.
    pub fn pass_mark(&mut self, j: &Journal, name: &str) -> bool {
        let Some(m) = j.marks.get(name) else {
            return false;
        };
        let tag = match *m {
            Mark::Flush { tag, .. } | Mark::Fua { tag, .. } => tag,
        };
        let pick = |o: &Op| match *m {
            Mark::Flush { seq, .. } => o.ack.is_some_and(|a| a < seq),
            Mark::Fua { gen, .. } => o.gen == gen,
        };
        let Some(vi) = j.index_of(tag) else {
            return false;
        };
        for o in j.vdis[vi].ops.iter().filter(|o| pick(o)) {
            for b in o.lba..o.lba + o.n {
                let f = &mut self.0[vi][b as usize];
                *f = (*f).max(o.gen);
            }
        }
        true
    }

    /// The floors once every mark of the journal has passed: what a crash
    /// after the last one must keep.
    pub fn all_marks(j: &Journal) -> Floors {
        let mut f = Floors::new(j);
        let mut names: Vec<&String> = j.marks.keys().collect();
        names.sort();
        for n in names {
            f.pass_mark(j, n);
        }
        f
    }

    /// Every acknowledged operation durable: the floors once the workload
    /// finished and its disks were powered off.
    pub fn all_acked(j: &Journal) -> Floors {
        let mut f = Floors::new(j);
        for (vi, v) in j.vdis.iter().enumerate() {
            for o in v.ops.iter().filter(|o| o.ack.is_some()) {
                for b in o.lba..o.lba + o.n {
                    let x = &mut f.0[vi][b as usize];
                    *x = (*x).max(o.gen);
                }
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const J: &str = "pvdisk-crash-journal 1
seed 1234
vdi 1 v1 16
vdi 2 v2 8
op 1 1 W 0 4
op 1 2 D 2 2
ack 1 1 0
op 2 1 F 3 1
ack 1 2 2
ack 2 1 1
mark f1 flush 1 1
mark u1 fua 2 1
op 1 3 W 2 1
mark f2 flush 1 3
end
";

    #[test]
    fn parses_and_computes_floors() {
        let j = Journal::parse(J).unwrap();
        assert_eq!(j.seed, 1234);
        assert!(j.complete);
        assert_eq!(j.vdis.len(), 2);
        assert_eq!(j.vdis[0].ops[1].kind, OpKind::Discard);
        assert_eq!(j.vdis[0].ops[1].ack, Some(2));
        assert_eq!(j.vdis[0].ops[2].ack, None);
        let h = History::new(&j);
        assert_eq!(h.0[0][2], vec![(1, false), (2, true), (3, false)]);
        assert_eq!(h.0[1][3], vec![(1, false)]);

        let mut f = Floors::new(&j);
        assert!(!f.pass_mark(&j, "setup"));
        // f1: only acks before 1 (op 1 of v1) count.
        assert!(f.pass_mark(&j, "f1"));
        assert_eq!(f.0[0][..5], [1, 1, 1, 1, 0]);
        assert!(f.pass_mark(&j, "u1"));
        assert_eq!(f.0[1][3], 1);
        // f2: the discard (ack 2) too; op 3 was never acknowledged.
        f.pass_mark(&j, "f2");
        assert_eq!(f.0[0][..5], [1, 1, 2, 2, 0]);
        assert_eq!(Floors::all_acked(&j), f);
    }

    #[test]
    fn a_cut_journal_keeps_its_whole_records() {
        // Cut inside "ack 1 2 2": the record is left out, not read as
        // "ack 1 2" or with a shorter number.
        let cut = &J[..J.find("ack 1 2 2").unwrap() + 7];
        assert!(Journal::parse(cut).is_err());
        let mut text = cut.to_string();
        text.push_str("\0\0\0mark junk flush 1 99\n");
        let j = Journal::parse_cut(&text).unwrap();
        assert!(!j.complete);
        assert_eq!(j.vdis[0].ops[1].ack, None);
        assert_eq!(j.vdis[0].ops[0].ack, Some(0));
        assert!(j.marks.is_empty());
        // A snapshot mark is a flush.
        let j = Journal::parse_cut(&format!("{}mark s9 snap 1 3\n", J)).unwrap();
        assert_eq!(j.marks["s9"], Mark::Flush { tag: 1, seq: 3 });
        assert_eq!(Floors::all_marks(&j), Floors::all_acked(&j));
        assert!(Journal::parse_cut("").is_err());
    }

    #[test]
    fn refuses_bad_journals() {
        assert!(Journal::parse("hello\n").is_err());
        let bad = "pvdisk-crash-journal 1\nvdi 1 v 4\nop 1 1 W 3 2\n";
        assert!(Journal::parse(bad).unwrap_err().contains("outside"));
        let bad = "pvdisk-crash-journal 1\nvdi 1 v 4\nack 1 5 0\n";
        assert!(Journal::parse(bad).unwrap_err().contains("unknown op"));
        let bad = "pvdisk-crash-journal 1\nop 3 1 W 0 1\n";
        assert!(Journal::parse(bad).unwrap_err().contains("unknown VDI"));
    }
}
