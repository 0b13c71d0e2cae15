// SPDX-License-Identifier: GPL-2.0

//! Crash consistency of the tool's commit order.
//!
//! Every operation is run with the device's write journal on. The journal
//! is cut at each sync into epochs; a crash in epoch `e` leaves every write
//! of the epochs before it and any subset of the writes of epoch `e`. For
//! every epoch and a number of random subsets (plus none and all), the
//! resulting image must open, `check` must find no corruption (leaks are
//! fine), and every VDI and snapshot block must read either as before the
//! operation or as after it; VDIs and snapshots the operation created must
//! either be absent or read exactly as after it.

mod common;

use common::{new_store, pattern, reopen, Rng, TempDir};
use pvdisk::check::check;
use pvdisk::format::crc32c::crc32c;
use pvdisk::format::BLOCK_SIZE;
use pvdisk::journal::JournalEntry;
use pvdisk::progress::Progress;
use pvdisk::snapshot::SnapRef;
use pvdisk::Store;
use std::collections::BTreeMap;
use std::path::Path;

const LBAS: [u64; 6] = [0, 1, 2, 509, 510, 700];

/// Contents of every live VDI and snapshot at `LBAS`, as checksums.
type State = BTreeMap<String, Vec<u32>>;

fn state(s: &mut Store) -> State {
    let mut out = State::new();
    for (slot, r) in s.live_vdis() {
        let mut b = [0u8; BLOCK_SIZE];
        let mut v = Vec::new();
        for &l in &LBAS {
            s.read_lba(r.root, r.height, l, &mut b).unwrap();
            v.push(crc32c(&b));
        }
        out.insert(r.name().to_string(), v);
        for (seq, e) in s.snapshots(slot).unwrap() {
            if e.is_deleted() {
                continue;
            }
            let mut v = Vec::new();
            for &l in &LBAS {
                s.read_lba(e.root, r.height, l, &mut b).unwrap();
                v.push(crc32c(&b));
            }
            out.insert(format!("{}@{}", r.name(), seq), v);
        }
    }
    out
}

/// Runs `op` on a copy of the store at `base`, then checks every state a
/// crash during it could leave. Returns the number of states checked.
fn crash_test(dir: &TempDir, base: &Path, op: &dyn Fn(&mut Store)) -> usize {
    let work = dir.file("work.img");
    std::fs::copy(base, &work).unwrap();
    let before = state(&mut reopen(&work));
    let mut s = reopen(&work);
    let recorder = s.start_journal();
    op(&mut s);
    let journal = recorder.take();
    let after = state(&mut s);
    drop(s);
    assert!(
        journal.iter().any(|e| matches!(e, JournalEntry::Write(..))),
        "operation wrote nothing"
    );
    let mut epochs: Vec<Vec<(u64, Box<[u8; BLOCK_SIZE]>)>> = vec![Vec::new()];
    for e in journal {
        match e {
            JournalEntry::Write(nr, b) => epochs.last_mut().unwrap().push((nr, b)),
            JournalEntry::Sync => epochs.push(Vec::new()),
        }
    }
    let base_bytes = std::fs::read(base).unwrap();
    let img = dir.file("crash.img");
    let mut rng = Rng(0x1234_5678);
    let mut states = 0;
    for e in 0..epochs.len() {
        let mut prefix = base_bytes.clone();
        for (nr, b) in epochs[..e].iter().flatten() {
            let off = *nr as usize * BLOCK_SIZE;
            prefix[off..off + BLOCK_SIZE].copy_from_slice(&b[..]);
        }
        let n = epochs[e].len();
        let trials = if n == 0 { 1 } else { 12 };
        for t in 0..trials {
            let mut bytes = prefix.clone();
            for (nr, b) in &epochs[e] {
                let keep = match t {
                    0 => false,
                    1 => true,
                    _ => rng.below(2) == 0,
                };
                if keep {
                    let off = *nr as usize * BLOCK_SIZE;
                    bytes[off..off + BLOCK_SIZE].copy_from_slice(&b[..]);
                }
            }
            std::fs::write(&img, &bytes).unwrap();
            let what = format!("crash in epoch {} of {}, trial {}", e, epochs.len(), t);
            let mut s = Store::open(&img, false).unwrap_or_else(|err| panic!("{}: {}", what, err));
            let r = check(&mut s, &mut Progress::silent()).unwrap();
            assert!(r.clean(), "{}: {:?}", what, r.corrupt);
            let got = state(&mut s);
            for (name, v) in &got {
                match (before.get(name), after.get(name)) {
                    (Some(b), Some(a)) => {
                        for i in 0..LBAS.len() {
                            assert!(
                                v[i] == b[i] || v[i] == a[i],
                                "{}: {} lba {} is neither old nor new",
                                what,
                                name,
                                LBAS[i]
                            );
                        }
                    }
                    (None, Some(a)) => assert_eq!(v, a, "{}: new {} differs", what, name),
                    (Some(b), None) => assert_eq!(v, b, "{}: {} changed", what, name),
                    (None, None) => panic!("{}: {} appeared from nowhere", what, name),
                }
            }
            states += 1;
        }
    }
    states
}

/// A small store: VDI "v" with data and a snapshot, VDI "w" empty.
fn base(dir: &TempDir) -> std::path::PathBuf {
    let (p, mut s) = new_store(dir, 6);
    let v = s.create_vdi("v", 800 * 4096).unwrap();
    s.create_vdi("w", 800 * 4096).unwrap();
    for l in [0u64, 509] {
        s.vdi_write(v, l, &pattern(l + 1)).unwrap();
    }
    s.flush().unwrap();
    s.snapshot(v, "first").unwrap();
    s.vdi_write(v, 1, &pattern(77)).unwrap();
    s.flush().unwrap();
    drop(s);
    let b = dir.file("base.img");
    std::fs::rename(&p, &b).unwrap();
    b
}

#[test]
fn crash_during_writes() {
    let dir = TempDir::new("crash-w");
    let b = base(&dir);
    let n = crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        let w = s.find_vdi("w").unwrap();
        // CoW under the snapshot, in place, sparse, and a first write to
        // an empty VDI.
        s.vdi_write(v, 0, &pattern(100)).unwrap();
        s.vdi_write(v, 1, &pattern(101)).unwrap();
        s.vdi_write(v, 700, &pattern(102)).unwrap();
        s.vdi_write(w, 2, &pattern(103)).unwrap();
        s.vdi_write(w, 510, &pattern(104)).unwrap();
        s.flush().unwrap();
    });
    assert!(n > 10);
}

#[test]
fn crash_during_first_data_write_claims_an_extent() {
    let dir = TempDir::new("crash-claim");
    let (p, mut s) = new_store(&dir, 6);
    s.create_vdi("w", 800 * 4096).unwrap();
    drop(s);
    crash_test(&dir, &p, &|s| {
        let w = s.find_vdi("w").unwrap();
        s.vdi_write(w, 3, &pattern(5)).unwrap();
        s.flush().unwrap();
    });
}

#[test]
fn crash_during_snapshot_clone_label_delete() {
    let dir = TempDir::new("crash-s");
    let b = base(&dir);
    crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        s.snapshot(v, "second").unwrap();
    });
    crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        s.clone_snapshot(SnapRef { slot: v, seq: 1 }, "c", None)
            .unwrap();
    });
    crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        s.label_snapshot(SnapRef { slot: v, seq: 1 }, "renamed")
            .unwrap();
    });
    crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        s.delete_snapshot(SnapRef { slot: v, seq: 1 }).unwrap();
    });
}

/// A batch of clones: whatever a crash leaves, each clone is whole or
/// absent (a record is never durable before its root).
#[test]
fn crash_during_a_batch_of_clones() {
    let dir = TempDir::new("crash-batch");
    let b = base(&dir);
    crash_test(&dir, &b, &|s| {
        let v = s.find_vdi("v").unwrap();
        let names = ["c-1", "c-2", "c-3", "c-4", "c-5"];
        let slots = s
            .clone_snapshots(SnapRef { slot: v, seq: 1 }, &names, None)
            .unwrap();
        assert_eq!(slots.len(), 5);
    });
}

/// A batch costs one root and one record per clone, and as many syncs
/// as a single clone.
#[test]
fn a_batch_of_clones_syncs_as_often_as_one() {
    let dir = TempDir::new("crash-batch-cost");
    let b = base(&dir);
    let cost = |n: usize| {
        let work = dir.file("cost.img");
        std::fs::copy(&b, &work).unwrap();
        let mut s = reopen(&work);
        let v = s.find_vdi("v").unwrap();
        let names: Vec<String> = (1..=n).map(|i| format!("c-{}", i)).collect();
        let recorder = s.start_journal();
        s.clone_snapshots(SnapRef { slot: v, seq: 1 }, &names, None)
            .unwrap();
        let j = recorder.take();
        let syncs = j.iter().filter(|e| matches!(e, JournalEntry::Sync)).count();
        (j.len() - syncs, syncs)
    };
    let (w1, s1) = cost(1);
    let (w100, s100) = cost(100);
    assert_eq!(s100, s1, "syncs: {} for one clone, {} for 100", s1, s100);
    // Bitmap blocks aside, two writes per clone: root, then record.
    assert!(
        w1 <= 3 && w100 <= 2 * 100 + 1,
        "writes: {} and {}",
        w1,
        w100
    );
}

#[test]
fn crash_during_gc() {
    let dir = TempDir::new("crash-gc");
    let b = base(&dir);
    {
        let mut s = reopen(&b);
        let v = s.find_vdi("v").unwrap();
        s.delete_snapshot(SnapRef { slot: v, seq: 1 }).unwrap();
        let w = s.find_vdi("w").unwrap();
        s.delete_vdi(w).unwrap();
    }
    crash_test(&dir, &b, &|s| {
        pvdisk::gc::gc(s, &mut Progress::silent()).unwrap();
    });
}
