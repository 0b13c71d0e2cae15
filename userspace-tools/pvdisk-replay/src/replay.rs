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
use crate::journal::{Floors, History, Journal, Mark};
use crate::log::{Kind, Log, ReadAt};
use crate::oracle::{judge, Violation};
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
    /// Judge the image at the end of the log with every acknowledged
    /// operation durable (the log covers the power-off of every disk).
    pub final_check: bool,
    /// Points whose problems are printed.
    pub max_report: usize,
    /// Print every point.
    pub verbose: bool,
    /// Stop after applying this entry, leaving the image as it is there
    /// (to look at one point with the tool).
    pub stop_after: Option<usize>,
    /// At the end, compare the image with this device or file (the one
    /// the log was recorded over): the whole log applied is the device.
    pub compare: Option<PathBuf>,
    /// Apply every write as logged, even an older generation of a
    /// workload block over a newer one ([`Image::keep_newer`] is off):
    /// shows the target's reordering.
    pub log_order: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            start_mark: None,
            subsets: 2,
            seed: 1,
            faults: 0,
            faults_only: false,
            final_check: false,
            max_report: 5,
            verbose: false,
            stop_after: None,
            compare: None,
            log_order: false,
        }
    }
}

/// The kind of a problem at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The store does not open or check finds corruption (other than
    /// [`Class::Unwritten`]).
    Check,
    /// A metadata block that a tree links reads as zeros: linked before
    /// it was written (check reports it as a bad magic 0).
    Unwritten,
    /// A durable write (acknowledged before a completed flush, or a
    /// completed FUA write) or discard is not there.
    Lost,
    /// Data a VDI never wrote there: another block's, garbage, a
    /// generation that never wrote the block.
    Wrong,
}

/// A problem at a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its kind.
    pub class: Class,
    /// What it is.
    pub text: String,
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
    /// Points (not planted faults) where the store did not open or check
    /// found corruption.
    pub check_points: usize,
    /// Points (not planted faults) where a tree links a metadata block
    /// never written.
    pub unwritten_points: usize,
    /// Points (not planted faults) with a durable write lost.
    pub lost_points: usize,
    /// Points (not planted faults) with data a VDI never wrote there.
    pub wrong_points: usize,
    /// Planted faults left out because the same point without the fault
    /// already had a violation.
    pub faults_unclear: usize,
    /// 4 KiB blocks where the image and `compare` differ.
    pub differ: u64,
    /// Blocks of logged writes left out because the image already had a
    /// newer generation of the same VDI and LBA there (the target logged
    /// the older write later; [`Image::keep_newer`]), in the pass
    /// through the log (not counting subsets and faults).
    pub older_kept_out: usize,
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
    pub fn problems(&mut self, path: &Path, image: &Image, floors: &Floors) -> Vec<Problem> {
        let mut out = Vec::new();
        let p = |class, text: String| {
            let class = if class == Class::Check && text.contains("bad magic 0x00000000 ") {
                Class::Unwritten
            } else {
                class
            };
            Problem { class, text }
        };
        let mut store = match Store::open(path, false) {
            Ok(s) => s,
            Err(e) => return vec![p(Class::Check, format!("the store does not open: {}", e))],
        };
        match check(&mut store, &mut Progress::silent()) {
            Ok(r) => out.extend(
                r.corrupt
                    .iter()
                    .map(|f| p(Class::Check, format!("check: {}", f))),
            ),
            Err(e) => out.push(p(Class::Check, format!("check failed: {}", e))),
        }
        let live = store.live_vdis();
        for (vi, v) in self.j.vdis.iter().enumerate() {
            let Some((_, rec)) = live.iter().find(|(_, r)| r.name() == v.name) else {
                out.push(p(Class::Check, format!("VDI {} is missing", v.name)));
                continue;
            };
            if rec.size < v.blocks * BS as u64 {
                out.push(p(
                    Class::Check,
                    format!(
                        "VDI {} has {} bytes, wrote {} blocks",
                        v.name, rec.size, v.blocks
                    ),
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
                out.push(p(
                    Class::Check,
                    format!("VDI {}: its tree cannot be read: {}", v.name, e),
                ));
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
                    let class = if matches!(x, Violation::Lost { .. }) {
                        Class::Lost
                    } else {
                        Class::Wrong
                    };
                    out.push(p(
                        class,
                        format!("VDI {} lba {} (block {}): {}", v.name, lba, blk, x),
                    ));
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
    /// Subsets drawn so far: their kind goes round (random, all but one,
    /// a prefix).
    kinds: usize,
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
        let mut image = Image::create(path, bytes)?;
        if !opts.log_order {
            image.keep_newer(j.seed);
        }
        Ok(Replay {
            log,
            src,
            j,
            judge: Judge::new(j),
            image,
            path: path.to_path_buf(),
            floors: Floors::new(j),
            rng: Rng::new(opts.seed),
            opts,
            stats: Stats::default(),
            reported: 0,
            kinds: 0,
            out,
        })
    }

    fn say(&mut self, s: String) {
        let _ = writeln!(self.out, "{}", s);
    }

    /// Judges the image as it is now; true if it passed. A violation of a
    /// point that is not a planted fault counts in the statistics.
    fn point(&mut self, what: &str, floors: Option<&Floors>, fault: bool) -> bool {
        let p = self.problems(floors);
        self.report(what, &p, fault);
        p.is_empty()
    }

    fn problems(&mut self, floors: Option<&Floors>) -> Vec<Problem> {
        let floors = floors.unwrap_or(&self.floors);
        self.judge.problems(&self.path, &self.image, floors)
    }

    fn report(&mut self, what: &str, p: &[Problem], fault: bool) {
        if self.opts.verbose {
            let s = format!("point: {}: {} problems", what, p.len());
            self.say(s);
        }
        if p.is_empty() {
            return;
        }
        self.stats.problems += p.len();
        if !fault {
            self.stats.bad_points += 1;
            let has = |c| p.iter().any(|x| x.class == c);
            self.stats.check_points += usize::from(has(Class::Check));
            self.stats.unwritten_points += usize::from(has(Class::Unwritten));
            self.stats.lost_points += usize::from(has(Class::Lost));
            self.stats.wrong_points += usize::from(has(Class::Wrong));
        }
        if self.reported < self.opts.max_report {
            self.reported += 1;
            let mut s = format!("VIOLATION at {}: {} problems", what, p.len());
            let show = if self.opts.verbose { p.len() } else { 8 };
            for x in p.iter().take(show) {
                s.push_str("\n  ");
                s.push_str(&x.text);
            }
            if p.len() > show {
                s.push_str("\n  ...");
            }
            self.say(s);
        }
    }

    /// Applies the entries `which` temporarily, judges with `floors`, and
    /// puts the image back.
    fn temp_problems(
        &mut self,
        which: &[usize],
        floors: Option<&Floors>,
    ) -> Result<Vec<Problem>, String> {
        let mut undo = Undo::default();
        for &i in which {
            self.image
                .apply(&self.log.entries[i], self.src, Some(&mut undo))?;
        }
        let p = self.problems(floors);
        self.image.restore(undo)?;
        Ok(p)
    }

    /// Random subsets of the writes in `[w, end)`.
    fn subsets(&mut self, w: usize, end: usize) -> Result<(), String> {
        let writes: Vec<usize> = (w..end)
            .filter(|&i| self.log.entries[i].changes_data())
            .collect();
        if writes.len() < 2 {
            return Ok(());
        }
        for _ in 0..self.opts.subsets {
            self.kinds += 1;
            let pick: Vec<usize> = match self.kinds % 3 {
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
            let p = self.temp_problems(&pick, None)?;
            self.report(&what, &p, false);
        }
        Ok(())
    }

    /// Where to plant a fault in the window `[w, nf)`: a data write of
    /// the workload there (drawn at random) whose operation a later mark
    /// says is durable, and the first such mark. None if there is none.
    fn fault_plan(&mut self, w: usize, nf: usize) -> Result<Option<(usize, usize)>, String> {
        let mut cands = Vec::new();
        let mut b = [0u8; BS];
        for i in w..nf {
            let e = &self.log.entries[i];
            if e.kind != Kind::Write || e.len < BS as u64 {
                continue;
            }
            self.src
                .read_at(&mut b, e.data_at)
                .map_err(|x| format!("log: entry {} data: {}", i, x))?;
            if let Content::Block { tag, gen, .. } = pattern::decode(&b, self.j.seed) {
                let ack = self.j.index_of(tag).and_then(|vi| {
                    let ops = &self.j.vdis[vi].ops;
                    let k = ops.binary_search_by_key(&gen, |o| o.gen).ok()?;
                    ops[k].ack
                });
                if let Some(ack) = ack {
                    cands.push((i, tag, gen, ack));
                }
            }
        }
        if cands.is_empty() {
            return Ok(None);
        }
        let (drop, tag, gen, ack) = cands[self.rng.below(cands.len())];
        let covers = |name: &str| match self.j.marks.get(name) {
            Some(&Mark::Flush { tag: t, seq }) => t == tag && ack < seq,
            Some(&Mark::Fua { tag: t, gen: g }) => t == tag && g == gen,
            None => false,
        };
        let m =
            (nf..self.log.entries.len()).find(|&i| self.log.entries[i].mark().is_some_and(covers));
        Ok(m.map(|m| (drop, m)))
    }

    /// A planted fault: write `drop` of the window starting at `w` left
    /// out, everything else up to mark `m` (which says the write is
    /// durable) applied. Counted only if the same point without the fault
    /// passes.
    fn fault(&mut self, w: usize, drop: usize, m: usize) -> Result<(), String> {
        let mut floors = self.floors.clone();
        let mut all = Vec::new();
        for i in w..=m {
            let e = &self.log.entries[i];
            if let Some(name) = e.mark() {
                floors.pass_mark(self.j, name);
            } else if e.changes_data() {
                all.push(i);
            }
        }
        if !self.temp_problems(&all, Some(&floors))?.is_empty() {
            self.stats.faults_unclear += 1;
            return Ok(());
        }
        let which: Vec<usize> = all.iter().copied().filter(|&i| i != drop).collect();
        let d = &self.log.entries[drop];
        let what = format!(
            "planted fault: entry {} ({} bytes at byte {}) dropped, judged at mark entry {}",
            drop, d.len, d.offset, m
        );
        self.stats.faults += 1;
        let p = self.temp_problems(&which, Some(&floors))?;
        self.report(&what, &p, true);
        if !p.is_empty() {
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
        let mut fault_at: HashMap<usize, (usize, usize)> = HashMap::new();
        if self.opts.faults > 0 {
            let mut cand = Vec::new();
            for &w in &windows {
                if next_flush[w] < n {
                    if let Some(plan) = self.fault_plan(w, next_flush[w])? {
                        cand.push((w, plan));
                    }
                }
            }
            for _ in 0..self.opts.faults.min(cand.len()) {
                let k = self.rng.below(cand.len());
                let (w, plan) = cand.swap_remove(k);
                fault_at.insert(w, plan);
            }
        }
        let mut nflush = 0;
        for pos in 0..n {
            let e = &log.entries[pos];
            let kept = self.image.apply(e, self.src, None)?;
            self.stats.older_kept_out += kept.len();
            if self.opts.verbose && !kept.is_empty() {
                let s = format!(
                    "entry {}: blocks {:?} kept: the image has a newer generation there",
                    pos, kept
                );
                self.say(s);
            }
            if let Some(name) = e.mark() {
                self.floors.pass_mark(self.j, name);
            }
            if pos < start && self.opts.stop_after != Some(pos) {
                continue;
            }
            if !self.opts.faults_only && pos >= start {
                match &e.kind {
                    Kind::Flush => {
                        nflush += 1;
                        self.stats.flushes += 1;
                        let what = format!("flush {} (entry {})", nflush, pos);
                        self.point(&what, None, false);
                    }
                    Kind::Mark(m) => {
                        self.stats.marks += 1;
                        let what = format!("mark '{}' (entry {})", m, pos);
                        self.point(&what, None, false);
                    }
                    _ => {}
                }
            }
            if self.opts.stop_after == Some(pos) {
                let s = format!(
                    "replay: stopped after entry {}, the image is left as it is there",
                    pos
                );
                self.say(s);
                return Ok(());
            }
            let w = pos + 1;
            if w < n && windows.binary_search(&w).is_ok() {
                if !self.opts.faults_only {
                    self.subsets(w, next_flush[w])?;
                }
                if let Some(&(drop, m)) = fault_at.get(&w) {
                    self.fault(w, drop, m)?;
                }
            }
        }
        if self.opts.final_check {
            self.stats.finals += 1;
            let floors = Floors::all_acked(self.j);
            self.point(
                "the end of the log, every acknowledged write durable",
                Some(&floors),
                false,
            );
        }
        if let Some(dev) = self.opts.compare.clone() {
            self.compare(&dev)?;
        }
        let s = self.stats.clone();
        let summary = format!(
            "replay: {} entries from entry {}; points {}: flushes {}, marks {}, subsets {}, final {}; violations {} (check {}, unwritten {}, lost {}, wrong {}; {} problems); planted faults {}, caught {}, unclear {}; older writes kept out {}; {:.1}s",
            s.entries,
            start,
            s.points(),
            s.flushes,
            s.marks,
            s.subsets,
            s.finals,
            s.bad_points,
            s.check_points,
            s.unwritten_points,
            s.lost_points,
            s.wrong_points,
            s.problems,
            s.faults,
            s.faults_caught,
            s.faults_unclear,
            s.older_kept_out,
            t0.elapsed().as_secs_f64()
        );
        self.say(summary);
        Ok(())
    }
}

impl Replay<'_> {
    /// Compares the image with `dev`, block by block.
    fn compare(&mut self, dev: &Path) -> Result<(), String> {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(dev).map_err(|e| format!("{}: {}", dev.display(), e))?;
        let blocks = self.image.bytes() / BS as u64;
        let (mut a, mut b) = (vec![0u8; 256 * BS], vec![0u8; 256 * BS]);
        let mut first = None;
        let mut nr = 0;
        while nr < blocks {
            let n = (blocks - nr).min(256) as usize;
            let off = nr * BS as u64;
            f.read_exact_at(&mut a[..n * BS], off)
                .map_err(|e| format!("{}: {}", dev.display(), e))?;
            self.image.read_at(&mut b[..n * BS], off)?;
            for k in 0..n {
                if a[k * BS..(k + 1) * BS] != b[k * BS..(k + 1) * BS] {
                    self.stats.differ += 1;
                    first.get_or_insert(nr + k as u64);
                }
            }
            nr += n as u64;
        }
        let s = match first {
            None => format!(
                "compare: the image is {} byte for byte ({} blocks)",
                dev.display(),
                blocks
            ),
            Some(b) => format!(
                "compare: the image and {} differ in {} of {} blocks, the first {}",
                dev.display(),
                self.stats.differ,
                blocks,
                b
            ),
        };
        self.say(s);
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
    let s = out.join(",");
    if s.len() > 80 {
        let cut = s[..80].rfind(',').unwrap_or(80);
        format!("{},...", &s[..cut])
    } else {
        s
    }
}

/// Judges a raw image of VDI `name` (as `pvdisk export` writes it)
/// against the end of the workload: every acknowledged operation durable.
/// Returns the problems.
pub fn verify_export(j: &Journal, name: &str, image: &Path) -> Result<Vec<String>, String> {
    verify_image(j, name, image, &Floors::all_acked(j))
}

/// Judges a raw image of VDI `name` (an export, or the VDI's disk) with
/// `floors`. Returns the problems.
pub fn verify_image(
    j: &Journal,
    name: &str,
    image: &Path,
    floors: &Floors,
) -> Result<Vec<String>, String> {
    let vi = j
        .vdis
        .iter()
        .position(|v| v.name == name)
        .ok_or_else(|| format!("the journal has no VDI {}", name))?;
    let v = &j.vdis[vi];
    let f = std::fs::File::open(image).map_err(|e| format!("{}: {}", image.display(), e))?;
    let hist = History::new(j);
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

/// What [`judge_store`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Blocks of the journal's VDIs judged.
    pub blocks: u64,
    /// Problems by class: check, unwritten, lost, wrong.
    pub check: usize,
    /// Trees linking a metadata block never written.
    pub unwritten: usize,
    /// Durable writes not there.
    pub lost: usize,
    /// Data a VDI never wrote there.
    pub wrong: usize,
    /// The problems (all of them).
    pub problems: Vec<String>,
}

/// Judges the store at `store` (a device or an image, as a crash left
/// it) against journal `j` with `floors`: `pvdisk check` finds no
/// corruption (leaks are fine) and every block of every VDI of the
/// journal passes the oracle.
pub fn judge_store(j: &Journal, store: &Path, floors: &Floors) -> Result<Verdict, String> {
    let image = Image::open(store)?;
    let mut judge = Judge::new(j);
    let p = judge.problems(store, &image, floors);
    let mut v = Verdict {
        blocks: j.vdis.iter().map(|x| x.blocks).sum(),
        ..Verdict::default()
    };
    for x in p {
        match x.class {
            Class::Check => v.check += 1,
            Class::Unwritten => v.unwritten += 1,
            Class::Lost => v.lost += 1,
            Class::Wrong => v.wrong += 1,
        }
        v.problems.push(x.text);
    }
    Ok(v)
}
