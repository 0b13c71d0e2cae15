// SPDX-License-Identifier: GPL-2.0

//! The replayer on synthetic dm-log-writes logs of real stores: the
//! `pvdisk` library writes a store while its device journal records every
//! write and sync; the record becomes a log in the kernel's format (syncs
//! as flushes, with a mark after each commit) and the workload journal
//! says what was written. A correct log passes at every point; a lost
//! write, a block with a wrong address, a damaged node and planted faults
//! are reported.

use pvdisk::format::BLOCK_SIZE;
use pvdisk::journal::JournalEntry;
use pvdisk::Store;
use pvdisk_replay::journal::Journal;
use pvdisk_replay::log::{self, Builder};
use pvdisk_replay::pattern;
use pvdisk_replay::replay::{verify_export, Options, Replay, Stats};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const SEED: u32 = 0x5eed;
const BLOCKS: u64 = 64;
const ROUNDS: u64 = 6;

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pvdisk-replay-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn file(&self, n: &str) -> PathBuf {
        self.0.join(n)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Plant {
    Nothing,
    /// The data write of lba 5 (round 0) never reaches the log.
    LostWrite,
    /// lba 6 (round 0) gets a block that says lba 7.
    WrongLba,
    /// Every metadata block written in round 1 gets a flipped byte.
    DamagedMetadata,
    /// The new leaf of round 0 never reaches the log.
    UnwrittenLeaf,
    /// The target's reordering: in round 4 every data write of an lba
    /// written before is followed in the log by the older data of that
    /// lba, at the same place (as dm-log-writes logs a write W1 after a
    /// newer W2 to the same sector when W2 is FUA, or when W1's flush
    /// completes after W2's).
    Reordered,
    /// The same, but the newer write itself never reaches the log.
    ReorderedNewLost,
}

struct Fixture {
    _dir: Dir,
    log: Vec<u8>,
    journal: Journal,
    image: PathBuf,
    store: PathBuf,
    bytes: u64,
}

/// The lbas written in round `r`: 8 of them, some overwritten in later
/// rounds, lbas 5 and 6 only in round 0.
fn lbas(r: u64) -> Vec<u64> {
    (0..8)
        .map(|k| {
            if r == 0 {
                k
            } else {
                8 + (r * 5 + k * 3) % (BLOCKS - 8)
            }
        })
        .collect()
}

fn fixture(plant: Plant) -> Fixture {
    let dir = Dir::new();
    let p = dir.file("store.img");
    let bytes = 8u64 << 20;
    std::fs::File::create(&p).unwrap().set_len(bytes).unwrap();
    let mut s = Store::format(&p, Some(1 << 20), false).unwrap();
    s.set_durable(false);
    // Height 2 (a root over leaves of 510 blocks); the workload uses the
    // first BLOCKS blocks.
    s.create_vdi("v1", 1024 * BLOCK_SIZE as u64).unwrap();
    s.flush().unwrap();
    drop(s);

    // The formatted store, as the first writes of the log.
    let mut b = Builder::new(512);
    let base = std::fs::read(&p).unwrap();
    for (i, c) in base.chunks(BLOCK_SIZE).enumerate() {
        if c.iter().any(|&x| x != 0) {
            b.write((i * BLOCK_SIZE) as u64, c, 0);
        }
    }
    b.flush().mark("setup");

    let mut j = format!(
        "pvdisk-crash-journal 1\nseed {}\nvdi 1 v1 {}\n",
        SEED, BLOCKS
    );
    let mut s = Store::open(&p, true).unwrap();
    s.set_durable(false);
    let slot = s.live_vdis()[0].0;
    let rec = s.start_journal();
    let mut reordered = 0;
    let (mut gen, mut seq) = (0u32, 0u64);
    let mut older: std::collections::HashMap<u64, [u8; BLOCK_SIZE]> = Default::default();
    for r in 0..ROUNDS {
        let mut lost = None;
        for lba in lbas(r) {
            gen += 1;
            let mut blk = [0u8; BLOCK_SIZE];
            let says = if plant == Plant::WrongLba && r == 0 && lba == 6 {
                7
            } else {
                lba
            };
            pattern::make(&mut blk, SEED, 1, says, gen);
            if plant == Plant::LostWrite && r == 0 && lba == 5 {
                lost = Some(blk);
            }
            s.vdi_write(slot, lba, &blk).unwrap();
            older.entry(lba).or_insert(blk);
            j += &format!("op 1 {} W {} 1\nack 1 {} {}\n", gen, lba, gen, seq);
            seq += 1;
        }
        s.flush().unwrap();
        for e in rec.take() {
            match e {
                JournalEntry::Write(nr, mut blk) => {
                    if lost.is_some_and(|l| l == *blk) {
                        continue;
                    }
                    if plant == Plant::UnwrittenLeaf && r == 0 && &blk[..4] == b"PVR1" {
                        continue;
                    }
                    if plant == Plant::DamagedMetadata && r == 1 && &blk[..4] != b"PCRW" {
                        blk[100] ^= 0xff;
                    }
                    let reorder = matches!(plant, Plant::Reordered | Plant::ReorderedNewLost)
                        && r == 4
                        && &blk[..4] == b"PCRW";
                    let old = match pattern::decode(&blk, SEED) {
                        pattern::Content::Block { lba, .. } if reorder => {
                            older.get(&lba).filter(|o| o[..] != blk[..]).copied()
                        }
                        _ => None,
                    };
                    if old.is_none() || plant != Plant::ReorderedNewLost {
                        b.write(nr * BLOCK_SIZE as u64, &blk[..], 0);
                    }
                    if let Some(o) = old {
                        b.write(nr * BLOCK_SIZE as u64, &o[..], 0);
                        reordered += 1;
                    }
                }
                JournalEntry::Sync => {
                    b.flush();
                }
            }
        }
        b.mark(&format!("f{}", r));
        j += &format!("mark f{} flush 1 {}\n", r, seq);
    }
    j += "end\n";
    if matches!(plant, Plant::Reordered | Plant::ReorderedNewLost) {
        assert!(reordered >= 3, "round 4 rewrites {} lbas", reordered);
    }
    Fixture {
        log: b.finish(),
        journal: Journal::parse(&j).unwrap(),
        image: dir.file("replay.img"),
        store: p,
        bytes,
        _dir: dir,
    }
}

fn replay(f: &Fixture, opts: Options) -> (Stats, String) {
    let l = log::parse(&f.log).unwrap();
    let mut out = Vec::new();
    let stats = {
        let mut r = Replay::new(&l, &f.log, &f.journal, &f.image, f.bytes, opts, &mut out).unwrap();
        r.run().unwrap();
        r.stats.clone()
    };
    (stats, String::from_utf8(out).unwrap())
}

fn opts() -> Options {
    Options {
        start_mark: Some("setup".into()),
        subsets: 3,
        seed: 7,
        final_check: true,
        max_report: 100,
        ..Options::default()
    }
}

#[test]
fn a_correct_log_passes_everywhere() {
    let f = fixture(Plant::Nothing);
    let o = Options {
        compare: Some(f.store.clone()),
        ..opts()
    };
    let (s, out) = replay(&f, o);
    println!("{}", out);
    assert_eq!(s.bad_points, 0, "{}", out);
    assert_eq!(s.marks, 1 + ROUNDS as usize);
    assert!(s.flushes >= 2 * ROUNDS as usize, "{}", out);
    assert!(s.subsets >= 3 * ROUNDS as usize, "{}", out);
    assert_eq!(s.finals, 1);
    assert!(
        out.contains("violations 0 (check 0, unwritten 0, lost 0, wrong 0;"),
        "{}",
        out
    );
    assert_eq!(s.differ, 0, "{}", out);
    assert!(out.contains("compare: the image is"), "{}", out);
    // The end of the replay is the store the library wrote.
    assert_eq!(
        std::fs::read(&f.image).unwrap(),
        std::fs::read(&f.store).unwrap()
    );
}

#[test]
fn an_exported_vdi_is_verified() {
    let f = fixture(Plant::Nothing);
    let mut s = Store::open(&f.store, false).unwrap();
    let (_, r) = s.live_vdis()[0];
    let out = f.image.with_extension("v1");
    let file = std::fs::File::create(&out).unwrap();
    pvdisk::image::export(
        &mut s,
        r.root,
        r.height,
        r.size,
        &file,
        &mut pvdisk::progress::Progress::silent(),
    )
    .unwrap();
    assert_eq!(
        verify_export(&f.journal, "v1", &out).unwrap(),
        Vec::<String>::new()
    );
    // One block of another lba: found.
    let mut blk = [0u8; BLOCK_SIZE];
    pattern::make(&mut blk, SEED, 1, 3, 1);
    use std::os::unix::fs::FileExt;
    file.write_all_at(&blk, 2 * BLOCK_SIZE as u64).unwrap();
    let p = verify_export(&f.journal, "v1", &out).unwrap();
    assert_eq!(p.len(), 1, "{:?}", p);
    assert!(p[0].contains("lba 2: another block's data"), "{:?}", p);
}

#[test]
fn a_lost_write_is_reported() {
    let f = fixture(Plant::LostWrite);
    let o = Options {
        compare: Some(f.store.clone()),
        ..opts()
    };
    let (s, out) = replay(&f, o);
    assert!(s.bad_points > 0, "{}", out);
    assert!(
        s.lost_points > 0 && s.check_points == 0 && s.wrong_points == 0,
        "{}",
        out
    );
    // The store has the block the log lost.
    assert_eq!(s.differ, 1, "{}", out);
    assert!(out.contains("VDI v1 lba 5 (block"), "{}", out);
    assert!(
        out.contains("lost: gen 6 or newer is durable, found zeros"),
        "{}",
        out
    );
    // Points before mark f0 are fine: the write was not flushed yet.
    let first = out.find("VIOLATION at ").unwrap();
    assert!(
        out[first..].starts_with("VIOLATION at mark 'f0'"),
        "{}",
        out
    );
}

#[test]
fn an_older_write_logged_after_a_newer_one_is_kept_out() {
    let f = fixture(Plant::Reordered);
    let o = Options {
        compare: Some(f.store.clone()),
        ..opts()
    };
    let (s, out) = replay(&f, o.clone());
    assert_eq!(s.bad_points, 0, "{}", out);
    assert!(s.older_kept_out >= 3, "{}", out);
    assert_eq!(s.differ, 0, "{}", out);
    assert!(out.contains("older writes kept out "), "{}", out);
    // In log order the older data wins: a lost write, and not the device.
    let (s, out) = replay(
        &f,
        Options {
            log_order: true,
            ..o
        },
    );
    assert!(s.lost_points > 0 && s.wrong_points == 0, "{}", out);
    assert_eq!(s.older_kept_out, 0, "{}", out);
    assert!(s.differ >= 3, "{}", out);
}

#[test]
fn an_older_write_does_not_stand_in_for_a_lost_newer_one() {
    let f = fixture(Plant::ReorderedNewLost);
    let (s, out) = replay(&f, opts());
    assert!(s.lost_points > 0, "{}", out);
    assert_eq!(s.older_kept_out, 0, "{}", out);
    assert!(
        out.contains("or newer is durable, found tag 1 lba"),
        "{}",
        out
    );
}

#[test]
fn a_block_with_a_wrong_lba_is_reported() {
    let f = fixture(Plant::WrongLba);
    let (s, out) = replay(&f, opts());
    assert!(s.wrong_points > 0 && s.lost_points == 0, "{}", out);
    assert!(out.contains("VDI v1 lba 6 (block"), "{}", out);
    assert!(
        out.contains("another block's data: tag 1 lba 7 gen 7"),
        "{}",
        out
    );
}

#[test]
fn damaged_metadata_fails_check() {
    let f = fixture(Plant::DamagedMetadata);
    let (s, out) = replay(&f, opts());
    assert!(s.check_points > 0, "{}", out);
    assert!(out.contains("check: "), "{}", out);
}

#[test]
fn a_node_linked_but_never_written_is_reported() {
    let f = fixture(Plant::UnwrittenLeaf);
    let (s, out) = replay(&f, opts());
    assert!(s.unwritten_points > 0, "{}", out);
    assert_eq!(s.check_points, 0, "{}", out);
    assert!(out.contains("bad magic 0x00000000"), "{}", out);
}

#[test]
fn planted_faults_are_caught() {
    let f = fixture(Plant::Nothing);
    let o = Options {
        faults: 5,
        faults_only: true,
        final_check: false,
        ..opts()
    };
    let (s, out) = replay(&f, o);
    println!("{}", out);
    assert_eq!(s.points(), 0);
    assert_eq!(s.faults, 5, "{}", out);
    // Each drops the data of an acknowledged write and is judged at the
    // mark that says it is durable: every one is caught.
    assert_eq!(s.faults_caught, 5, "{}", out);
    assert_eq!(s.bad_points, 0, "{}", out);
    assert!(out.contains("planted fault: entry"), "{}", out);
}

#[test]
fn the_start_mark_must_exist() {
    let f = fixture(Plant::Nothing);
    let l = log::parse(&f.log).unwrap();
    let mut out = Vec::new();
    let o = Options {
        start_mark: Some("nope".into()),
        ..opts()
    };
    let mut r = Replay::new(&l, &f.log, &f.journal, &f.image, f.bytes, o, &mut out).unwrap();
    assert!(r.run().unwrap_err().contains("no mark 'nope'"));
}

#[test]
fn an_image_too_small_for_the_log_is_an_error() {
    let f = fixture(Plant::Nothing);
    let l = log::parse(&f.log).unwrap();
    let mut out = Vec::new();
    let mut r = Replay::new(&l, &f.log, &f.journal, &f.image, 1 << 20, opts(), &mut out).unwrap();
    assert!(r.run().unwrap_err().contains("past its end"));
    let _ = Path::new("");
}
