// SPDX-License-Identifier: GPL-2.0

//! Property test: random sequences of write / snapshot / clone / delete /
//! gc / reopen against a plain in-memory model. After every sequence (and
//! after every gc) every live VDI and every live snapshot is compared with
//! the model block by block, `check` must find no corruption, and right
//! after a gc there must be no leak at all.

mod common;

use common::{new_store, pattern, reopen, TempDir};
use proptest::prelude::*;
use pvdisk::check::check;
use pvdisk::format::{Block, BLOCK_SIZE};
use pvdisk::gc::gc;
use pvdisk::progress::Progress;
use pvdisk::snapshot::SnapRef;
use pvdisk::Store;
use std::collections::BTreeMap;

type Blocks = BTreeMap<u64, u64>;

#[derive(Debug, Clone)]
struct MSnap {
    seq: u64,
    data: Blocks,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct MVdi {
    name: String,
    blocks: u64,
    data: Blocks,
    snaps: Vec<MSnap>,
    deleted: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Write { vdi: usize, lba: usize, seed: u64 },
    Snapshot { vdi: usize },
    Clone { vdi: usize, snap: usize },
    DeleteVdi { vdi: usize },
    DeleteSnap { vdi: usize, snap: usize },
    Gc,
    Reopen,
}

/// Logical blocks the tests write to: both ends of leaf nodes, and far
/// apart for the height-3 VDI.
const LBAS: [u64; 10] = [0, 1, 509, 510, 511, 1000, 1019, 1020, 260_099, 260_100];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..8usize, 0..LBAS.len(), 0..1000u64).prop_map(|(vdi, lba, seed)| Op::Write { vdi, lba, seed }),
        3 => (0..8usize).prop_map(|vdi| Op::Snapshot { vdi }),
        2 => (0..8usize, 0..8usize).prop_map(|(vdi, snap)| Op::Clone { vdi, snap }),
        1 => (0..8usize).prop_map(|vdi| Op::DeleteVdi { vdi }),
        1 => (0..8usize, 0..8usize).prop_map(|(vdi, snap)| Op::DeleteSnap { vdi, snap }),
        1 => Just(Op::Gc),
        1 => Just(Op::Reopen),
    ]
}

fn live(model: &[MVdi]) -> Vec<usize> {
    (0..model.len()).filter(|&i| !model[i].deleted).collect()
}

fn read(store: &mut Store, root: u64, height: u32, lba: u64) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    store.read_lba(root, height, lba, &mut b).unwrap();
    b
}

fn compare(store: &mut Store, model: &[MVdi]) {
    for v in model.iter().filter(|v| !v.deleted) {
        let slot = store.find_vdi(&v.name).unwrap();
        let rec = store.vdi(slot).unwrap();
        let snaps = store.snapshots(slot).unwrap();
        assert_eq!(snaps.len(), v.snaps.len(), "VDI {}", v.name);
        for &lba in LBAS.iter().filter(|&&l| l < v.blocks) {
            let want = pattern(v.data.get(&lba).copied().unwrap_or(0));
            assert!(
                read(store, rec.root, rec.height, lba) == want,
                "{} lba {}",
                v.name,
                lba
            );
            for s in v.snaps.iter().filter(|s| !s.deleted) {
                let (_, e) = snaps.iter().find(|(n, _)| *n == s.seq).unwrap();
                assert!(!e.is_deleted());
                let want = pattern(s.data.get(&lba).copied().unwrap_or(0));
                assert!(
                    read(store, e.root, rec.height, lba) == want,
                    "{}@{} lba {}",
                    v.name,
                    s.seq,
                    lba
                );
            }
        }
    }
}

fn run(ops: Vec<Op>) {
    let dir = TempDir::new("model");
    let (path, mut store) = new_store(&dir, 48);
    let mut model: Vec<MVdi> = Vec::new();
    for (name, blocks) in [("small", 300u64), ("mid", 1100), ("tall", 260_101)] {
        store.create_vdi(name, blocks * BLOCK_SIZE as u64).unwrap();
        model.push(MVdi {
            name: name.into(),
            blocks,
            data: Blocks::new(),
            snaps: Vec::new(),
            deleted: false,
        });
    }
    let mut clones = 0;
    for op in ops {
        let l = live(&model);
        match op {
            Op::Write { vdi, lba, seed } => {
                let Some(&i) = l.get(vdi % l.len().max(1)) else {
                    continue;
                };
                let lba = LBAS[lba];
                if lba >= model[i].blocks {
                    continue;
                }
                let slot = store.find_vdi(&model[i].name).unwrap();
                store.vdi_write(slot, lba, &pattern(seed)).unwrap();
                if seed % 3 == 0 {
                    store.flush().unwrap();
                }
                model[i].data.insert(lba, seed);
            }
            Op::Snapshot { vdi } => {
                let Some(&i) = l.get(vdi % l.len().max(1)) else {
                    continue;
                };
                let slot = store.find_vdi(&model[i].name).unwrap();
                let seq = store.snapshot(slot, "").unwrap();
                assert_eq!(seq, model[i].snaps.len() as u64 + 1);
                let data = model[i].data.clone();
                model[i].snaps.push(MSnap {
                    seq,
                    data,
                    deleted: false,
                });
            }
            Op::Clone { vdi, snap } => {
                let Some(&i) = l.get(vdi % l.len().max(1)) else {
                    continue;
                };
                let live_snaps: Vec<usize> = (0..model[i].snaps.len())
                    .filter(|&s| !model[i].snaps[s].deleted)
                    .collect();
                let Some(&s) = live_snaps.get(snap % live_snaps.len().max(1)) else {
                    continue;
                };
                clones += 1;
                let name = format!("clone{}", clones);
                let slot = store.find_vdi(&model[i].name).unwrap();
                let sref = SnapRef {
                    slot,
                    seq: model[i].snaps[s].seq,
                };
                store.clone_snapshot(sref, &name, None).unwrap();
                let m = MVdi {
                    name,
                    blocks: model[i].blocks,
                    data: model[i].snaps[s].data.clone(),
                    snaps: Vec::new(),
                    deleted: false,
                };
                model.push(m);
            }
            Op::DeleteVdi { vdi } => {
                if l.len() <= 1 {
                    continue;
                }
                let i = l[vdi % l.len()];
                let slot = store.find_vdi(&model[i].name).unwrap();
                store.delete_vdi(slot).unwrap();
                model[i].deleted = true;
            }
            Op::DeleteSnap { vdi, snap } => {
                let Some(&i) = l.get(vdi % l.len().max(1)) else {
                    continue;
                };
                let live_snaps: Vec<usize> = (0..model[i].snaps.len())
                    .filter(|&s| !model[i].snaps[s].deleted)
                    .collect();
                let Some(&s) = live_snaps.get(snap % live_snaps.len().max(1)) else {
                    continue;
                };
                let slot = store.find_vdi(&model[i].name).unwrap();
                store
                    .delete_snapshot(SnapRef {
                        slot,
                        seq: model[i].snaps[s].seq,
                    })
                    .unwrap();
                model[i].snaps[s].deleted = true;
            }
            Op::Gc => {
                store.flush().unwrap();
                let before = check(&mut store, &mut Progress::silent()).unwrap();
                assert!(before.clean(), "{:?}", before.corrupt);
                let stats = gc(&mut store, &mut Progress::silent()).unwrap();
                assert_eq!(
                    stats.freed,
                    before.leaks.len() as u64,
                    "gc frees exactly the leaks"
                );
                let after = check(&mut store, &mut Progress::silent()).unwrap();
                assert!(after.clean(), "{:?}", after.corrupt);
                assert!(after.leaks.is_empty(), "leaks after gc: {:?}", after.leaks);
                assert_eq!(after.allocated, after.walk.reach.count());
                compare(&mut store, &model);
            }
            Op::Reopen => {
                store.flush().unwrap();
                drop(store);
                store = reopen(&path);
            }
        }
    }
    store.flush().unwrap();
    compare(&mut store, &model);
    let r = check(&mut store, &mut Progress::silent()).unwrap();
    assert!(r.clean(), "{:?}", r.corrupt);
    // Everything also survives a reopen from disk.
    drop(store);
    let mut store = reopen(&path);
    compare(&mut store, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

#[test]
fn long_fixed_sequence() {
    // A deterministic long run that always exercises every operation.
    let mut rng = common::Rng(0x5eed);
    let mut ops = Vec::new();
    for _ in 0..400 {
        let r = rng.below(20);
        let a = rng.below(8) as usize;
        let b = rng.below(8) as usize;
        ops.push(match r {
            0..=9 => Op::Write {
                vdi: a,
                lba: b % LBAS.len(),
                seed: rng.below(1000) + 1,
            },
            10..=12 => Op::Snapshot { vdi: a },
            13..=14 => Op::Clone { vdi: a, snap: b },
            15 => Op::DeleteVdi { vdi: a },
            16 => Op::DeleteSnap { vdi: a, snap: b },
            17 => Op::Gc,
            _ => Op::Reopen,
        });
    }
    run(ops);
}
