// SPDX-License-Identifier: GPL-2.0

//! import/export round-trips a sparse image byte for byte, skips zero
//! blocks, and exports sparse files; snapshots export their own contents.

mod common;

use common::{new_store, pattern, TempDir};
use pvdisk::format::BLOCK_SIZE;
use pvdisk::image::{export, import};
use pvdisk::progress::Progress;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

#[test]
fn sparse_image_round_trip() {
    let dir = TempDir::new("image");
    let (_, mut s) = new_store(&dir, 32);
    let slot = s.create_vdi("v", 8 << 20).unwrap();
    // 6 MiB + 123 bytes image with scattered data and a partial tail.
    let img = dir.file("in.raw");
    let len = (6 << 20) + 123;
    let f = File::create(&img).unwrap();
    f.set_len(len).unwrap();
    let data_blocks = [0u64, 1, 2, 300, 509, 510, 511, 1500];
    for &b in &data_blocks {
        f.write_all_at(&pattern(b + 7), b * BLOCK_SIZE as u64)
            .unwrap();
    }
    f.write_all_at(b"tail!", len - 5).unwrap();
    drop(f);
    let st = import(
        &mut s,
        slot,
        &File::open(&img).unwrap(),
        &mut Progress::silent(),
    )
    .unwrap();
    assert_eq!(st.blocks, len.div_ceil(4096));
    assert_eq!(
        st.written,
        data_blocks.len() as u64 + 1,
        "zero blocks are skipped"
    );

    let out = dir.file("out.raw");
    let o = File::create(&out).unwrap();
    let rec = s.vdi(slot).unwrap();
    export(
        &mut s,
        rec.root,
        rec.height,
        rec.size,
        &o,
        &mut Progress::silent(),
    )
    .unwrap();
    let a = std::fs::read(&img).unwrap();
    let b = std::fs::read(&out).unwrap();
    assert_eq!(b.len() as u64, 8 << 20);
    assert!(a[..] == b[..a.len()], "contents differ");
    assert!(b[a.len()..].iter().all(|&x| x == 0));
    // Sparse: only the written blocks take space (allow fs metadata slack).
    let used = std::fs::metadata(&out).unwrap().blocks() * 512;
    assert!(used <= 64 * 4096, "export is not sparse: {} bytes", used);
}

#[test]
fn import_over_data_clears_zero_blocks() {
    let dir = TempDir::new("image2");
    let (_, mut s) = new_store(&dir, 16);
    let slot = s.create_vdi("v", 1 << 20).unwrap();
    s.vdi_write(slot, 3, &pattern(5)).unwrap();
    s.vdi_write(slot, 4, &pattern(6)).unwrap();
    s.flush().unwrap();
    let seq = s.snapshot(slot, "before").unwrap();
    let img = dir.file("in.raw");
    let f = File::create(&img).unwrap();
    f.set_len(1 << 20).unwrap();
    f.write_all_at(&pattern(9), 4 * 4096).unwrap();
    drop(f);
    import(
        &mut s,
        slot,
        &File::open(&img).unwrap(),
        &mut Progress::silent(),
    )
    .unwrap();
    let mut b = [0u8; BLOCK_SIZE];
    s.vdi_read(slot, 3, &mut b).unwrap();
    assert!(
        b.iter().all(|&x| x == 0),
        "block 3 must read as the image's zeros"
    );
    s.vdi_read(slot, 4, &mut b).unwrap();
    assert!(b == pattern(9));
    // The snapshot still has the old contents.
    let e = s
        .snapshot_entry(pvdisk::snapshot::SnapRef { slot, seq })
        .unwrap();
    let rec = s.vdi(slot).unwrap();
    let out = dir.file("snap.raw");
    let o = File::create(&out).unwrap();
    export(
        &mut s,
        e.root,
        rec.height,
        rec.size,
        &o,
        &mut Progress::silent(),
    )
    .unwrap();
    let got = std::fs::read(&out).unwrap();
    assert!(got[3 * 4096..4 * 4096] == pattern(5)[..]);
    assert!(got[4 * 4096..5 * 4096] == pattern(6)[..]);
}

#[test]
fn image_larger_than_vdi_is_refused() {
    let dir = TempDir::new("image3");
    let (_, mut s) = new_store(&dir, 16);
    let slot = s.create_vdi("v", 1 << 20).unwrap();
    let img = dir.file("big.raw");
    File::create(&img).unwrap().set_len((1 << 20) + 1).unwrap();
    let e = import(
        &mut s,
        slot,
        &File::open(&img).unwrap(),
        &mut Progress::silent(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("holds only"), "{}", e);
}
