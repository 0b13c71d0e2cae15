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

fn import_file(
    s: &mut pvdisk::Store,
    slot: u32,
    img: &std::path::Path,
) -> pvdisk::Result<pvdisk::image::ImageStats> {
    import(s, slot, &File::open(img).unwrap(), &mut Progress::silent())
}

fn read_vdi(s: &mut pvdisk::Store, slot: u32, lba: u64) -> [u8; BLOCK_SIZE] {
    let mut b = [0u8; BLOCK_SIZE];
    s.vdi_read(slot, lba, &mut b).unwrap();
    b
}

/// Writes an image of `blocks` blocks, block `lba` holding
/// `pattern(lba + first)`.
fn pattern_image(path: &std::path::Path, blocks: u64, first: u64) {
    let f = File::create(path).unwrap();
    for lba in 0..blocks {
        f.write_all_at(&pattern(lba + first), lba * 4096).unwrap();
    }
}

/// Blocks marked allocated in metadata and data extents.
fn allocated(s: &mut pvdisk::Store) -> u64 {
    let r = pvdisk::check::check(s, &mut Progress::silent()).unwrap();
    assert!(r.clean(), "{:?}", r.corrupt);
    r.allocated
}

#[test]
fn failed_import_leaves_the_vdi_as_it_was() {
    let dir = TempDir::new("image-full");
    // 8 extents of 1 MiB: room for about 5 MiB of data.
    let (path, mut s) = new_store(&dir, 8);
    let slot = s.create_vdi("v", 16 << 20).unwrap();
    let small = dir.file("small.raw");
    pattern_image(&small, 8, 1);
    import_file(&mut s, slot, &small).unwrap();
    let big = dir.file("big.raw");
    pattern_image(&big, 12 << 8, 100);
    let e = import_file(&mut s, slot, &big).unwrap_err().to_string();
    assert!(e.contains("store is full"), "{}", e);
    assert!(e.contains("VDI 'v' is unchanged"), "{}", e);
    drop(s);
    let mut s = common::reopen(&path);
    for lba in 0..8u64 {
        assert!(
            read_vdi(&mut s, slot, lba) == pattern(lba + 1),
            "lba {}",
            lba
        );
    }
    assert!(read_vdi(&mut s, slot, 8).iter().all(|&x| x == 0));
    let r = pvdisk::check::check(&mut s, &mut Progress::silent()).unwrap();
    assert!(r.clean(), "{:?}", r.corrupt);
}

#[test]
fn smaller_image_leaves_nothing_of_the_old_one() {
    let dir = TempDir::new("image-smaller");
    let (_, mut s) = new_store(&dir, 32);
    let slot = s.create_vdi("v", 16 << 20).unwrap();
    let first = dir.file("first.raw");
    pattern_image(&first, 8 << 8, 1);
    import_file(&mut s, slot, &first).unwrap();
    let before = allocated(&mut s);
    let second = dir.file("second.raw");
    std::fs::write(&second, vec![0x5au8; 5000]).unwrap();
    import_file(&mut s, slot, &second).unwrap();
    let b0 = read_vdi(&mut s, slot, 0);
    assert!(b0.iter().all(|&x| x == 0x5a));
    let b1 = read_vdi(&mut s, slot, 1);
    assert!(b1[..5000 - 4096].iter().all(|&x| x == 0x5a));
    assert!(b1[5000 - 4096..].iter().all(|&x| x == 0));
    for lba in 2..(8 << 8) as u64 {
        assert!(
            read_vdi(&mut s, slot, lba).iter().all(|&x| x == 0),
            "block {} still holds the first image",
            lba
        );
    }
    // The first image's private blocks were freed.
    let after = allocated(&mut s);
    assert!(after < before / 10, "{} -> {}", before, after);
}

#[test]
fn sparse_image_reads_only_its_data_and_zeros_cost_nothing() {
    let dir = TempDir::new("image-sparse");
    let (_, mut s) = new_store(&dir, 32);
    let slot = s.create_vdi("v", 20 << 30).unwrap();
    let img = dir.file("sparse.raw");
    let f = File::create(&img).unwrap();
    f.set_len(20 << 30).unwrap();
    f.write_all_at(&pattern(7), 3 << 30).unwrap();
    drop(f);
    let t = std::time::Instant::now();
    let st = import_file(&mut s, slot, &img).unwrap();
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    assert_eq!(st.written, 1);
    assert!(st.read <= 1 << 20, "read {} bytes of holes", st.read);
    assert!(read_vdi(&mut s, slot, (3 << 30) / 4096) == pattern(7));

    // Zeros (real ones, not holes) over data shared with a snapshot:
    // no block is allocated for them.
    let v2 = s.create_vdi("w", 8 << 20).unwrap();
    let data = dir.file("data.raw");
    pattern_image(&data, 8 << 8, 1);
    import_file(&mut s, v2, &data).unwrap();
    s.snapshot(v2, "shared").unwrap();
    let zeros = dir.file("zeros.raw");
    std::fs::write(&zeros, vec![0u8; 8 << 20]).unwrap();
    let before = allocated(&mut s);
    let st = import_file(&mut s, v2, &zeros).unwrap();
    assert_eq!(st.written, 0);
    assert_eq!(allocated(&mut s), before);
    assert!(read_vdi(&mut s, v2, 5).iter().all(|&x| x == 0));
}
