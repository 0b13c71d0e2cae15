// SPDX-License-Identifier: GPL-2.0

//! The replay: the log applied entry by entry to an image of zeros, and
//! the store judged at *points*, each a state the device could have been
//! left in by a crash:
//!
//! * every flush entry: everything logged before it;
//! * every mark: the same (a mark is logged after the flushes before it);
//! * random subsets: the writes logged since the last flush (up to the
//!   next) reached the disk in any order, so any subset of them, applied
//!   over the state at the last flush or mark, is a crash state;
//! * planted faults (`faults`): one write logged before a flush left out
//!   while everything after it, up to some marks later, is applied: a
//!   device that loses an acknowledged, flushed write. Not a state a
//!   correct device can leave; there to show the checks catch it.
//!
//! At each point the store must pass the `pvdisk` tool's check (no
//! corruption; leaks are fine) and every block of every VDI of the
//! workload must pass the oracle ([`crate::oracle`]) with the floors of
//! the marks logged before the point.

use crate::image::{Image, Undo};
use crate::journal::{Floors, History, Journal};
use crate::log::{Kind, Log, ReadAt};
use crate::oracle::judge;
use crate::pattern::{self, Content, BS};
use pvdisk::check::check;
use pvdisk::progress::Progress;
use pvdisk::Store;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Points start at this mark (the store exists from there on).
    pub start_mark: Option<String>,
    /// Random subsets per window of unflushed writes (of two or more).
    pub subsets: usize,
    /// Seed of the random choices.
    pub seed: u64,
    /// Planted-fault points.
    pub faults: usize,
    /// Only the planted-fault points (and `final_check`).
    pub faults_only: bool,
    /// A planted fault is judged this many journal marks after the flush
    /// that follows the dropped write.
    pub fault_reach: usize,
    /// Judge the image at the end of the log with every acknowledged
    /// operation durable (the log covers the power-off of every disk).
    pub final_check: bool,
    /// Points whose problems are printed.
    pub max_report: usize,
    /// Print every point.
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start_mark: None,
            subsets: 2,
            seed: 1,
            faults: 0,
            faults_only: false,
            fault_reach: 3,
            final_check: false,
            max_report: 5,
            verbose: false,
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Entries in the log.
    pub entries: usize,
    /// Flush points judged.
    pub flushes: usize,
    /// Mark points judged.
    pub marks: usize,
    /// Random-subset points judged.
    pub subsets: usize,
    /// Planted-fault points judged.
    pub faults: usize,
    /// The final point judged.
    pub finals: usize,
    /// Points (not planted faults) with a violation.
    pub bad_points: usize,
    /// Planted-fault points with a violation (caught).
    pub faults_caught: usize,
    /// Problems found at all points.
    pub problems: usize,
}

impl Stats {
    /// Points judged, planted faults left out.
    pub fn points(&self) -> usize {
        self.flushes + self.marks + self.subsets + self.finals
    }
}

/// A splitmix64 stream.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Judges a store image: check, then every block of the journal's VDIs
/// against the floors.
pub struct Judge<'a> {
    j: &'a Journal,
    hist: History,
    cache: HashMap<u64, (u64, Content)>,
}

impl<'a> Judge<'a> {
    /// A judge for the workload of `j`.
    pub fn new(j: &'a Journal) -> Judge<'a> {
        Judge {
            j,
            hist: History::new(j),
            cache: HashMap::new(),
        }
    }

    fn content(&mut self, image: &Image, blk: u64) -> Content {
        if (blk + 1) * BS as u64 > image.bytes() {
            return Content::Garbage(format!("block {} is past the end of the device", blk));
        }
        let v = image.version(blk);
        if let Some((cv, c)) = self.cache.get(&blk) {
            if *cv == v {
                return c.clone();
            }
        }
        let mut b = [0u8; BS];
        let c = match image.read_block(blk, &mut b) {
            Ok(()) => pattern::decode(&b, self.j.seed),
            Err(e) => Content::Garbage(e),
        };
        self.cache.insert(blk, (v, c.clone()));
        c
    }

    /// The problems of the store in `image` (at `path`) with `floors`.
    pub fn problems(&mut self, path: &Path, image: &Image, floors: &Floors) -> Vec<String> {
        let mut out = Vec::new();
        let mut store = match Store::open(path, false) {
            Ok(s) => s,
            Err(e) => return vec![format!("the store does not open: {}", e)],
        };
        match check(&mut store, &mut Progress::silent()) {
            Ok(r) => out.extend(r.corrupt.iter().map(|f| format!("check: {}", f))),
            Err(e) => out.push(format!("check failed: {}", e)),
        }
        let live = store.live_vdis();
        for (vi, v) in self.j.vdis.iter().enumerate() {
            let Some((_, rec)) = live.iter().find(|(_, r)| r.name() == v.name) else {
                out.push(format!("VDI {} is missing", v.name));
                continue;
            };
            if rec.size < v.blocks * BS as u64 {
                out.push(format!(
                    "VDI {} has {} bytes, wrote {} blocks",
                    v.name, rec.size, v.blocks
                ));
                continue;
            }
            let mut map = vec![0u64; v.blocks as usize];
            let walked = store.for_each_mapped(rec.root, rec.height, &mut |lba, blk| {
                if let Some(m) = map.get_mut(lba as usize) {
                    *m = blk;
                }
                Ok(())
            });
            if let Err(e) = walked {
                out.push(format!("VDI {}: its tree cannot be read: {}", v.name, e));
                continue;
            }
            for (lba, &blk) in map.iter().enumerate() {
                let c = if blk == 0 {
                    Content::Zero
                } else {
                    self.content(image, blk)
                };
                let h = &self.hist.0[vi][lba];
                if let Err(x) = judge(v.tag, lba as u64, h, floors.0[vi][lba], &c) {
                    out.push(format!("VDI {} lba {} (block {}): {}", v.name, lba, blk, x));
                }
            }
        }
        out
    }
}

/// The state of a replay.
pub struct Replay<'a> {
    log: &'a Log,
    src: &'a dyn ReadAt,
    j: &'a Journal,
    judge: Judge<'a>,
    image: Image,
    path: PathBuf,
    floors: Floors,
    rng: Rng,
    opts: Options,
    /// What it did so far.
    pub stats: Stats,
    reported: usize,
    out: &'a mut dyn Write,
}

/// Index of the first flush at or after each entry (`len` if none).
fn next_flushes(log: &Log) -> Vec<usize> {
    let n = log.entries.len();
    let mut next = vec![n; n + 1];
    for i in (0..n).rev() {
        next[i] = if log.entries[i].is_flush() {
            i
        } else {
            next[i + 1]
        };
    }
    next
}

impl<'a> Replay<'a> {
    /// A replay of `log` (read from `src`) judged against `j`, building
    /// the image of `bytes` at `path`.
    pub fn new(
        log: &'a Log,
        src: &'a dyn ReadAt,
        j: &'a Journal,
        path: &Path,
        bytes: u64,
        opts: Options,
        out: &'a mut dyn Write,
    ) -> Result<Replay<'a>, String> {
        Ok(Replay {
            log,
            src,
            j,
            judge: Judge::new(j),
            image: Image::create(path, bytes)?,
            path: path.to_path_buf(),
            floors: Floors::new(j),
            rng: Rng::new(opts.seed),
            opts,
            stats: Stats::default(),
            reported: 0,
            out,
        })
    }

    fn say(&mut self, s: String) {
        let _ = writeln!(self.out, "{}", s);
    }

    /// Judges the image as it is now; true if it passed.
    fn point(&mut self, what: &str, floors: Option<&Floors>) -> bool {
        let floors = floors.unwrap_or(&self.floors);
        let p = self.judge.problems(&self.path, &self.image, floors);
        if self.opts.verbose {
            let s = format!("point: {}: {} problems", what, p.len());
            self.say(s);
        }
        if p.is_empty() {
            return true;
        }
        self.stats.problems += p.len();
        if self.reported < self.opts.max_report {
            self.reported += 1;
            let mut s = format!("VIOLATION at {}: {} problems", what, p.len());
            for x in p.iter().take(8) {
                s.push_str("\n  ");
                s.push_str(x);
            }
            if p.len() > 8 {
                s.push_str("\n  ...");
            }
            self.say(s);
        }
        false
    }

    /// Applies the entries `which` temporarily, judges with `floors`, and
    /// puts the image back. True if the point passed.
    fn temp_point(
        &mut self,
        which: &[usize],
        what: &str,
        floors: Option<&Floors>,
    ) -> Result<bool, String> {
        let mut undo = Undo::default();
        for &i in which {
            self.image
                .apply(&self.log.entries[i], self.src, Some(&mut undo))?;
        }
        let ok = self.point(what, floors);
        self.image.restore(undo)?;
        Ok(ok)
    }

    /// Random subsets of the writes in `[w, end)`.
    fn subsets(&mut self, w: usize, end: usize) -> Result<(), String> {
        let writes: Vec<usize> = (w..end)
            .filter(|&i| self.log.entries[i].changes_data())
            .collect();
        if writes.len() < 2 {
            return Ok(());
        }
        for k in 0..self.opts.subsets {
            let pick: Vec<usize> = match k % 3 {
                // each write with probability 1/2
                0 => {
                    let mut p: Vec<usize> = Vec::new();
                    while p.is_empty() || p.len() == writes.len() {
                        p = writes
                            .iter()
                            .copied()
                            .filter(|_| self.rng.next_u64() & 1 == 1)
                            .collect();
                    }
                    p
                }
                // all but one
                1 => {
                    let skip = self.rng.below(writes.len());
                    writes
                        .iter()
                        .enumerate()
                        .filter(|&(x, _)| x != skip)
                        .map(|(_, &i)| i)
                        .collect()
                }
                // a prefix
                _ => writes[..1 + self.rng.below(writes.len() - 1)].to_vec(),
            };
            let what = format!(
                "subset of entries {}..{}: {} of {} writes ({})",
                w,
                end,
                pick.len(),
                writes.len(),
                list(&pick)
            );
            self.stats.subsets += 1;
            if !self.temp_point(&pick, &what, None)? {
                self.stats.bad_points += 1;
            }
        }
        Ok(())
    }

    /// A planted fault: one write of `[w, nf)` dropped, everything else up
    /// to `fault_reach` journal marks after flush `nf` applied.
    fn fault(&mut self, w: usize, nf: usize) -> Result<(), String> {
        let writes: Vec<usize> = (w..nf)
            .filter(|&i| self.log.entries[i].changes_data())
            .collect();
        if writes.is_empty() {
            return Ok(());
        }
        let n = self.log.entries.len();
        let mut seen = 0;
        let mut m = None;
        for i in nf..n {
            if let Some(name) = self.log.entries[i].mark() {
                if self.j.marks.contains_key(name) {
                    seen += 1;
                    m = Some(i);
                    if seen == self.opts.fault_reach {
                        break;
                    }
                }
            }
        }
        let Some(m) = m else {
            return Ok(());
        };
        let drop = writes[self.rng.below(writes.len())];
        let mut floors = self.floors.clone();
        let mut which = Vec::new();
        for i in w..=m {
            let e = &self.log.entries[i];
            if let Some(name) = e.mark() {
                floors.pass_mark(self.j, name);
            } else if e.changes_data() && i != drop {
                which.push(i);
            }
        }
        let d = &self.log.entries[drop];
        let what = format!(
            "planted fault: entry {} ({} bytes at byte {}) dropped before flush entry {}, judged at mark entry {}",
            drop, d.len, d.offset, nf, m
        );
        self.stats.faults += 1;
        if !self.temp_point(&which, &what, Some(&floors))? {
            self.stats.faults_caught += 1;
        }
        Ok(())
    }

    /// Runs the whole replay.
    pub fn run(&mut self) -> Result<(), String> {
        let t0 = Instant::now();
        let log = self.log;
        let n = log.entries.len();
        self.stats.entries = n;
        let next_flush = next_flushes(log);
        let start = match &self.opts.start_mark {
            None => 0,
            Some(s) => log
                .entries
                .iter()
                .position(|e| e.mark() == Some(s))
                .ok_or_else(|| format!("the log has no mark '{}'", s))?,
        };
        // Window starts: the first entry after a flush or mark that is
        // not itself a mark, from the start on.
        let windows: Vec<usize> = (start + 1..n)
            .filter(|&i| {
                let prev = &log.entries[i - 1];
                (prev.is_flush() || prev.mark().is_some()) && log.entries[i].mark().is_none()
            })
            .collect();
        let mut fault_at = vec![false; n + 1];
        if self.opts.faults > 0 {
            let mut cand: Vec<usize> = windows
                .iter()
                .copied()
                .filter(|&w| {
                    next_flush[w] < n && (w..next_flush[w]).any(|i| log.entries[i].changes_data())
                })
                .collect();
            for _ in 0..self.opts.faults.min(cand.len()) {
                let k = self.rng.below(cand.len());
                fault_at[cand.swap_remove(k)] = true;
            }
        }
        let mut nflush = 0;
        for pos in 0..n {
            let e = &log.entries[pos];
            self.image.apply(e, self.src, None)?;
            if let Some(name) = e.mark() {
                self.floors.pass_mark(self.j, name);
            }
            if pos < start {
                continue;
            }
            if !self.opts.faults_only {
                match &e.kind {
                    Kind::Flush => {
                        nflush += 1;
                        self.stats.flushes += 1;
                        let what = format!("flush {} (entry {})", nflush, pos);
                        if !self.point(&what, None) {
                            self.stats.bad_points += 1;
                        }
                    }
                    Kind::Mark(m) => {
                        self.stats.marks += 1;
                        let what = format!("mark '{}' (entry {})", m, pos);
                        if !self.point(&what, None) {
                            self.stats.bad_points += 1;
                        }
                    }
                    _ => {}
                }
            }
            let w = pos + 1;
            if w < n && windows.binary_search(&w).is_ok() {
                if !self.opts.faults_only {
                    self.subsets(w, next_flush[w])?;
                }
                if fault_at[w] {
                    self.fault(w, next_flush[w])?;
                }
            }
        }
        if self.opts.final_check {
            self.stats.finals += 1;
            let floors = Floors::all_acked(self.j);
            if !self.point(
                "the end of the log, every acknowledged write durable",
                Some(&floors),
            ) {
                self.stats.bad_points += 1;
            }
        }
        let s = self.stats.clone();
        let summary = format!(
            "replay: {} entries from entry {}; points {}: flushes {}, marks {}, subsets {}, final {}; violations {} ({} problems); planted faults {}, caught {}; {:.1}s",
            s.entries,
            start,
            s.points(),
            s.flushes,
            s.marks,
            s.subsets,
            s.finals,
            s.bad_points,
            s.problems,
            s.faults,
            s.faults_caught,
            t0.elapsed().as_secs_f64()
        );
        self.say(summary);
        Ok(())
    }
}

/// Entry indices as ranges: "3-5,9".
fn list(v: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// Judges a raw image of VDI `name` (as `pvdisk export` writes it)
/// against the end of the workload: every acknowledged operation durable.
/// Returns the problems.
pub fn verify_export(j: &Journal, name: &str, image: &Path) -> Result<Vec<String>, String> {
    let vi = j
        .vdis
        .iter()
        .position(|v| v.name == name)
        .ok_or_else(|| format!("the journal has no VDI {}", name))?;
    let v = &j.vdis[vi];
    let f = std::fs::File::open(image).map_err(|e| format!("{}: {}", image.display(), e))?;
    let hist = History::new(j);
    let floors = Floors::all_acked(j);
    let mut out = Vec::new();
    let mut b = [0u8; BS];
    for lba in 0..v.blocks {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(&mut b, lba * BS as u64)
            .map_err(|e| format!("{}: block {}: {}", image.display(), lba, e))?;
        let c = pattern::decode(&b, j.seed);
        if let Err(x) = judge(
            v.tag,
            lba,
            &hist.0[vi][lba as usize],
            floors.0[vi][lba as usize],
            &c,
        ) {
            out.push(format!("VDI {} lba {}: {}", name, lba, x));
        }
    }
    Ok(out)
}
