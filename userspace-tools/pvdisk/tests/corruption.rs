// SPDX-License-Identifier: GPL-2.0

//! Corruption is refused: for every metadata block of a populated store,
//! a flipped byte makes either opening the store or `check` fail with the
//! block's number. Also logically wrong but well-checksummed metadata
//! (a shared block left writable, a pointer into the wrong extent kind, a
//! reachable block marked free) is reported, and leaks alone are not
//! corruption.

mod common;

use common::{new_store, pattern, reopen, TempDir};
use pvdisk::check::check;
use pvdisk::format::extent::ExtentKind;
use pvdisk::format::radix::{make_ptr, ptr_block};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::gc::gc;
use pvdisk::progress::Progress;
use pvdisk::snapshot::SnapRef;
use pvdisk::Store;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A store with two VDIs, snapshots, a clone and some data.
fn populated(dir: &TempDir) -> std::path::PathBuf {
    let (path, mut s) = new_store(dir, 24);
    let a = s.create_vdi("a", 1100 * 4096).unwrap();
    let b = s.create_vdi("b", 200 * 4096).unwrap();
    for lba in [0u64, 5, 509, 510, 1099] {
        s.vdi_write(a, lba, &pattern(lba + 1)).unwrap();
    }
    s.vdi_write(b, 7, &pattern(99)).unwrap();
    s.flush().unwrap();
    s.snapshot(a, "one").unwrap();
    s.vdi_write(a, 5, &pattern(1234)).unwrap();
    s.flush().unwrap();
    s.snapshot(a, "").unwrap();
    s.clone_snapshot(SnapRef { slot: a, seq: 1 }, "c", None)
        .unwrap();
    s.snapshot(b, "bee").unwrap();
    path
}

/// Every metadata block of the store: superblock, catalogue, used
/// registry slots and one empty slot, bitmaps, nodes and logs.
fn metadata_blocks(path: &Path) -> Vec<u64> {
    let mut s = Store::open(path, false).unwrap();
    let mut out = vec![0u64];
    out.extend((0..u64::from(s.sb().catalogue_blocks)).map(|i| 1 + i));
    let used = s.records().iter().filter(|r| !r.is_empty()).count() as u32;
    out.extend((0..=used).map(|slot| s.sb().vdi_block(slot)));
    for kind in [ExtentKind::Metadata, ExtentKind::Data] {
        for e in s.extents_of(kind) {
            out.extend((0..s.sb().bitmap_blocks()).map(|i| s.sb().extent_start(e) + u64::from(i)));
        }
    }
    let r = check(&mut s, &mut Progress::silent()).unwrap();
    assert!(r.clean() && r.leaks.is_empty(), "{:?}", r.corrupt);
    for e in s.extents_of(ExtentKind::Metadata) {
        let start = s.sb().extent_start(e);
        for off in s.sb().bitmap_blocks()..s.sb().extent_blocks {
            if r.walk.reach.get(start + u64::from(off)) {
                out.push(start + u64::from(off));
            }
        }
    }
    out
}

fn flip(path: &Path, block: u64, byte: usize, mask: u8) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let off = block * BLOCK_SIZE as u64 + byte as u64;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, off).unwrap();
}

/// Open + check; Err(message) if refused.
fn verdict(path: &Path) -> Result<(), String> {
    let mut s = Store::open(path, false).map_err(|e| e.to_string())?;
    let r = check(&mut s, &mut Progress::silent()).map_err(|e| e.to_string())?;
    if r.clean() {
        Ok(())
    } else {
        Err(r
            .corrupt
            .iter()
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("; "))
    }
}

#[test]
fn any_flipped_byte_in_metadata_is_refused() {
    let dir = TempDir::new("flip");
    let path = populated(&dir);
    let blocks = metadata_blocks(&path);
    // Superblock, catalogue, 4 VDIs + 1 empty slot, 2 bitmaps, nodes, logs.
    assert!(blocks.len() >= 20, "{:?}", blocks);
    let mut rng = common::Rng(7);
    let mut tried = 0;
    for &blk in &blocks {
        // Every header byte, then a spread of body bytes.
        let mut offsets: Vec<usize> = (0..16).collect();
        offsets.extend((0..24).map(|_| 16 + rng.below(4080) as usize));
        for off in offsets {
            let mask = 1u8 << rng.below(8);
            flip(&path, blk, off, mask);
            let v = verdict(&path);
            flip(&path, blk, off, mask);
            let msg = v.expect_err(&format!("flip of block {} byte {} not refused", blk, off));
            assert!(
                msg.contains(&format!("block {}", blk)) || msg.contains("not a pvdisk store"),
                "block {} byte {}: message lacks the block number: {}",
                blk,
                off,
                msg
            );
            tried += 1;
        }
    }
    assert_eq!(verdict(&path), Ok(()));
    assert!(tried > 500);
}

#[test]
fn writable_shared_block_is_corruption() {
    let dir = TempDir::new("shared");
    let path = populated(&dir);
    let mut s = reopen(&path);
    let a = s.find_vdi("a").unwrap();
    let rec = s.vdi(a).unwrap();
    // Clear the read-only bit of a root link shared with snapshot a@2.
    let root = s.node(rec.root, rec.height).unwrap().clone();
    let (i, p) = root
        .ptrs
        .iter()
        .enumerate()
        .find(|(_, p)| ptr_block(**p) != 0)
        .map(|(i, p)| (i, *p))
        .unwrap();
    s.node_mut(rec.root, rec.height)
        .unwrap()
        .set(i, make_ptr(ptr_block(p), false));
    s.flush().unwrap();
    drop(s);
    let err = verdict(&path).unwrap_err();
    assert!(err.contains("writable from a live VDI"), "{}", err);
    assert!(err.contains(&format!("block {}", ptr_block(p))), "{}", err);
    // And gc refuses to touch such a store.
    let mut s = reopen(&path);
    let e = gc(&mut s, &mut Progress::silent()).unwrap_err();
    assert!(e.to_string().contains("gc frees nothing"), "{}", e);
}

#[test]
fn pointer_into_wrong_extent_kind_is_corruption() {
    let dir = TempDir::new("kind");
    let path = populated(&dir);
    let mut s = reopen(&path);
    let b = s.find_vdi("b").unwrap();
    let rec = s.vdi(b).unwrap();
    // A leaf pointer aimed at a radix node (metadata extent).
    s.node_mut(rec.root, rec.height)
        .unwrap()
        .set(8, make_ptr(rec.root, false));
    s.flush().unwrap();
    drop(s);
    let err = verdict(&path).unwrap_err();
    assert!(
        err.contains("data block pointer into metadata extent"),
        "{}",
        err
    );
}

#[test]
fn reachable_block_marked_free_is_corruption() {
    let dir = TempDir::new("free");
    let path = populated(&dir);
    let mut s = reopen(&path);
    let b = s.find_vdi("b").unwrap();
    let rec = s.vdi(b).unwrap();
    let m = s.lookup(rec.root, rec.height, 7).unwrap();
    assert_ne!(m.block, 0);
    s.free_now(m.block).unwrap();
    s.flush().unwrap();
    drop(s);
    let err = verdict(&path).unwrap_err();
    assert!(
        err.contains(&format!(
            "block {}: data block in use but marked free",
            m.block
        )),
        "{}",
        err
    );
}

#[test]
fn leaks_are_reported_not_corruption() {
    let dir = TempDir::new("leak");
    let path = populated(&dir);
    let mut s = reopen(&path);
    let leaked = s.alloc(ExtentKind::Data).unwrap();
    s.flush().unwrap();
    drop(s);
    let mut s = Store::open(&path, false).unwrap();
    let r = check(&mut s, &mut Progress::silent()).unwrap();
    assert!(r.clean());
    assert_eq!(r.leaks, vec![leaked]);
    drop(s);
    let mut s = reopen(&path);
    let st = gc(&mut s, &mut Progress::silent()).unwrap();
    assert_eq!(st.freed, 1);
    drop(s);
    let mut s = Store::open(&path, false).unwrap();
    let r = check(&mut s, &mut Progress::silent()).unwrap();
    assert!(r.clean() && r.leaks.is_empty());
}

#[test]
fn misdirected_block_is_refused() {
    let dir = TempDir::new("misdir");
    let path = populated(&dir);
    let s = Store::open(&path, false).unwrap();
    let a = s.find_vdi("a").unwrap();
    let c = s.find_vdi("c").unwrap();
    let (ra, rc) = (s.vdi(a).unwrap().root, s.vdi(c).unwrap().root);
    drop(s);
    // Write a's root over c's root: intact checksum, wrong block number.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8; BLOCK_SIZE];
    f.read_exact_at(&mut b, ra * BLOCK_SIZE as u64).unwrap();
    f.write_all_at(&b, rc * BLOCK_SIZE as u64).unwrap();
    let err = verdict(&path).unwrap_err();
    assert!(
        err.contains(&format!("block {}: misdirected", rc)),
        "{}",
        err
    );
}

/// Two stores built by the same steps put the same kinds of blocks at the
/// same numbers. A block of store B copied into store A at the same offset
/// has the right magic, block number and a valid plain checksum, but its
/// checksum is bound to B's UUID: A refuses it.
#[test]
fn block_from_another_store_is_refused() {
    let build = |dir: &TempDir, first: u64, second: u64, size: u64| {
        let (path, mut s) = new_store(dir, 8);
        let v = s.create_vdi("v", size).unwrap();
        s.vdi_write(v, first, &pattern(first + 1)).unwrap();
        s.vdi_write(v, second, &pattern(second + 1)).unwrap();
        s.flush().unwrap();
        let rec = s.vdi(v).unwrap();
        (path, s.sb().vdi_block(v), rec.root)
    };
    let (da, db) = (TempDir::new("foreign-a"), TempDir::new("foreign-b"));
    // Same blocks, different mappings (lba order swapped) and sizes.
    let (a, a_rec, a_root) = build(&da, 0, 1, 4 << 20);
    let (b, b_rec, b_root) = build(&db, 1, 0, 8 << 20);
    assert_eq!((a_rec, a_root), (b_rec, b_root));
    let read = |p: &Path, nr: u64| {
        let mut blk = [0u8; BLOCK_SIZE];
        std::fs::File::open(p)
            .unwrap()
            .read_exact_at(&mut blk, nr * BLOCK_SIZE as u64)
            .unwrap();
        blk
    };
    let f = OpenOptions::new().write(true).open(&a).unwrap();
    for nr in [a_root, a_rec] {
        let orig = read(&a, nr);
        f.write_all_at(&read(&b, nr), nr * BLOCK_SIZE as u64)
            .unwrap();
        let err = verdict(&a).unwrap_err();
        assert!(
            err.contains(&format!("block {}: bad checksum", nr)),
            "{}",
            err
        );
        f.write_all_at(&orig, nr * BLOCK_SIZE as u64).unwrap();
    }
    assert_eq!(verdict(&a), Ok(()));
}

/// A damaged registry slot or snapshot log costs its own VDI only: the
/// other VDIs can still be listed, drawn, exported, snapshotted and
/// cloned, new VDIs go elsewhere, and check reports every damaged block
/// (gc refuses to sweep).
#[test]
fn damaged_record_costs_that_record_only() {
    let dir = TempDir::new("damaged");
    let path = populated(&dir);
    let s = Store::open(&path, false).unwrap();
    let used = s.records().iter().filter(|r| !r.is_empty()).count() as u32;
    let empty_slot = s.sb().vdi_block(used + 2);
    let b = s.find_vdi("b").unwrap();
    let b_log = s.vdi(b).unwrap().snaplog;
    drop(s);
    flip(&path, empty_slot, 40, 1);
    flip(&path, b_log, 60, 1);
    let mut s = reopen(&path);
    assert_eq!(s.bad_slots().len(), 1);
    assert!(pvdisk::tree::forest(&s).is_ok());
    let a = s.find_vdi("a").unwrap();
    let mut out = [0u8; BLOCK_SIZE];
    s.vdi_read(a, 0, &mut out).unwrap();
    assert_eq!(out, pattern(1));
    s.snapshot(a, "after").unwrap();
    s.clone_snapshot(SnapRef { slot: a, seq: 1 }, "d", None)
        .unwrap();
    let e = s.create_vdi("e", 4096).unwrap();
    assert_ne!(s.sb().vdi_block(e), empty_slot);
    drop(s);
    let err = verdict(&path).unwrap_err();
    assert!(err.contains(&format!("block {}", empty_slot)), "{}", err);
    assert!(err.contains(&format!("block {}", b_log)), "{}", err);
    let mut s = reopen(&path);
    assert!(gc(&mut s, &mut Progress::silent()).is_err());
}

#[test]
fn duplicate_snapshot_label_is_corruption() {
    let dir = TempDir::new("labels");
    let path = populated(&dir);
    let mut s = reopen(&path);
    // b@1 is labelled "bee"; write the label "one" (a@1's) under it, and
    // the name of VDI "c" under a@2, past the tool's own refusals.
    let b = s.find_vdi("b").unwrap();
    let a = s.find_vdi("a").unwrap();
    let one = pvdisk::format::block::make_name("one").unwrap();
    let c = pvdisk::format::block::make_name("c").unwrap();
    s.update_snapshot(SnapRef { slot: b, seq: 1 }, &move |e| e.label = one)
        .unwrap();
    s.update_snapshot(SnapRef { slot: a, seq: 2 }, &move |e| e.label = c)
        .unwrap();
    drop(s);
    let err = verdict(&path).unwrap_err();
    assert!(err.contains("has the label 'one' of snapshot"), "{}", err);
    assert!(
        err.contains("a@2 is labelled 'c', the name of a VDI"),
        "{}",
        err
    );
}

/// A store whose metadata is full can still delete and relabel snapshots
/// and run gc, which gives the space back.
#[test]
fn full_metadata_can_still_delete_label_and_gc() {
    let dir = TempDir::new("full-meta");
    // System, metadata, data and one free extent of 1 MiB.
    let (path, mut s) = new_store(&dir, 4);
    let v = s.create_vdi("v", 64 << 10).unwrap();
    s.vdi_write(v, 0, &pattern(1)).unwrap();
    s.flush().unwrap();
    let mut n = 0;
    let err = loop {
        match s.snapshot(v, &format!("s{}", n)) {
            Ok(_) => n += 1,
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("store is full"), "{}", err);
    assert!(n > 300, "{}", n);
    // The data extent cannot take the last free extent either.
    s.label_snapshot(SnapRef { slot: v, seq: 1 }, "first")
        .unwrap();
    for seq in 2..=20 {
        s.delete_snapshot(SnapRef { slot: v, seq }).unwrap();
    }
    drop(s);
    assert_eq!(verdict(&path), Ok(()));
    let mut s = reopen(&path);
    let st = gc(&mut s, &mut Progress::silent()).unwrap();
    assert!(st.freed >= 19, "{:?}", st);
    s.snapshot(v, "again").unwrap();
    drop(s);
    assert_eq!(verdict(&path), Ok(()));
}
