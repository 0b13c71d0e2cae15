// SPDX-License-Identifier: GPL-2.0

//! The tool beside a live driver: a store whose VDI records and catalogue
//! carry the holds a powered disk's driver writes (`attached_by`, `owner`,
//! written here with the format module's encoders, as the kernel writes
//! them), plus the blocks a driver has marked allocated but not linked yet.
//! The commands that read work and say the same as without holds; every
//! command that changes the store is refused, naming the holds, and leaves
//! the file byte for byte as it was; check calls the driver's reserve a
//! leak, never corruption.

mod common;

use common::{new_store, pattern, TempDir};
use pvdisk::format::bitmap::BitmapBlock;
use pvdisk::format::extent::{CatalogueBlock, ExtentKind};
use pvdisk::format::superblock::Superblock;
use pvdisk::format::vdi::VdiRecord;
use pvdisk::format::{Block, BLOCK_SIZE};
use pvdisk::host::{host_id, this_host};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A command's exit status, stdout and stderr.
struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

/// Runs `pvdisk ARGS --wait` (a child another test thread forks may hold
/// a copy of a store lock until it execs).
fn pvdisk(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(args)
        .arg("--wait")
        .output()
        .expect("run pvdisk");
    Run {
        code: o.status.code(),
        out: String::from_utf8(o.stdout).unwrap(),
        err: String::from_utf8(o.stderr).unwrap(),
    }
}

fn ok(args: &[&str]) -> String {
    let r = pvdisk(args);
    assert_eq!(r.code, Some(0), "{:?}: {}", args, r.err);
    r.out
}

/// This host's id as the kernel computes it (the test needs it).
fn me() -> u64 {
    this_host().expect("/proc/sys/kernel/hostname")
}

// ---- writing holds as the kernel does --------------------------------

fn superblock(f: &File) -> Superblock {
    Superblock::decode(&read(f, 0)).unwrap()
}

fn read(f: &File, nr: u64) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    f.read_exact_at(&mut b, nr * BLOCK_SIZE as u64).unwrap();
    b
}

fn write(f: &File, nr: u64, b: &Block) {
    f.write_all_at(b, nr * BLOCK_SIZE as u64).unwrap();
}

fn open(p: &Path) -> File {
    OpenOptions::new().read(true).write(true).open(p).unwrap()
}

/// Power-on: `attached_by` = `host` in the record of VDI `name`, the
/// record rewritten with its generation bumped.
fn attach(p: &Path, name: &str, host: u64) {
    let f = open(p);
    let sb = superblock(&f);
    for slot in 0..sb.vdi_slots {
        let nr = sb.vdi_block(slot);
        let mut rec = VdiRecord::decode(&read(&f, nr), sb.store_id(), nr).unwrap();
        if !rec.is_empty() && rec.name() == name {
            rec.attached_by = host;
            rec.generation += 1;
            let mut b = [0u8; BLOCK_SIZE];
            rec.encode(&mut b, sb.store_id(), nr);
            write(&f, nr, &b);
            return;
        }
    }
    panic!("no VDI {}", name);
}

/// Rewrites extent `e`'s catalogue entry with `edit`.
fn catalogue(p: &Path, e: u32, edit: impl FnOnce(&mut pvdisk::format::extent::ExtentEntry)) {
    let f = open(p);
    let sb = superblock(&f);
    let (nr, i) = sb.catalogue_pos(e);
    let mut cat = CatalogueBlock::decode(&read(&f, nr), sb.store_id(), nr).unwrap();
    edit(&mut cat.entries[i]);
    let mut b = [0u8; BLOCK_SIZE];
    cat.encode(&mut b, sb.store_id(), nr);
    write(&f, nr, &b);
}

/// The extents of `kind`, from the catalogue.
fn extents(p: &Path, kind: ExtentKind) -> Vec<u32> {
    let f = open(p);
    let sb = superblock(&f);
    (0..sb.extent_count)
        .filter(|&e| {
            let (nr, i) = sb.catalogue_pos(e);
            CatalogueBlock::decode(&read(&f, nr), sb.store_id(), nr)
                .unwrap()
                .entries[i]
                .kind
                == kind
        })
        .collect()
}

/// Marks `n` free blocks of extent `e` allocated without linking them (the
/// driver's pre-claimed reserve, or new blocks of a commit not made yet),
/// writing `pattern` into them as uncommitted data would be; returns them.
/// A free extent is claimed first as `kind`, fresh bitmap then catalogue,
/// as the driver claims one.
fn reserve(p: &Path, e: u32, kind: ExtentKind, host: u64, n: usize) -> Vec<u64> {
    let f = open(p);
    let sb = superblock(&f);
    let nb = sb.bitmap_blocks();
    let start = sb.extent_start(e);
    let fresh = extents(p, ExtentKind::Free).contains(&e);
    let mut bm: Vec<BitmapBlock> = (0..nb)
        .map(|i| {
            if fresh {
                BitmapBlock::new(e, i)
            } else {
                let nr = start + u64::from(i);
                BitmapBlock::decode(&read(&f, nr), sb.store_id(), nr, e, i, sb.extent_blocks)
                    .unwrap()
            }
        })
        .collect();
    let per = pvdisk::format::bitmap::BITS_PER_BLOCK;
    if fresh {
        for i in 0..nb as usize {
            bm[i / per].set(i % per, true);
        }
    }
    let mut got = Vec::new();
    for i in nb as usize..sb.extent_blocks as usize {
        if got.len() == n {
            break;
        }
        if !bm[i / per].get(i % per) {
            bm[i / per].set(i % per, true);
            let blk = start + i as u64;
            write(&f, blk, &pattern(blk));
            got.push(blk);
        }
    }
    for (i, b) in bm.iter().enumerate() {
        let nr = start + i as u64;
        let mut raw = [0u8; BLOCK_SIZE];
        b.encode(&mut raw, sb.store_id(), nr);
        write(&f, nr, &raw);
    }
    f.sync_all().unwrap();
    catalogue(p, e, |x| {
        x.kind = kind;
        x.owner = host;
    });
    got
}

// ---- the store ---------------------------------------------------------

/// A store with a base VDI, a labelled snapshot, two clones with data of
/// their own and an empty VDI; `img` is a 1 MiB image file to import.
fn populated(dir: &TempDir) -> (PathBuf, PathBuf) {
    let (p, mut s) = new_store(dir, 24);
    let base = s.create_vdi("base", 8 << 20).unwrap();
    for lba in [0u64, 1, 2, 700, 1500] {
        s.vdi_write(base, lba, &pattern(lba + 1)).unwrap();
    }
    s.snapshot(base, "golden").unwrap();
    for name in ["vm1", "vm2"] {
        let g = s.resolve_snapshot("golden").unwrap();
        let c = s.clone_snapshot(g, name, None).unwrap();
        s.vdi_write(c, 3, &pattern(99)).unwrap();
    }
    let vm1 = s.find_vdi("vm1").unwrap();
    s.snapshot(vm1, "").unwrap();
    s.create_vdi("empty", 1 << 20).unwrap();
    s.flush().unwrap();
    drop(s);
    let img = dir.file("img.raw");
    File::create(&img)
        .unwrap()
        .write_all_at(&pattern(5), 0)
        .unwrap();
    (p, img)
}

/// What the read-only commands print, with the hold columns and lines
/// taken out.
fn views(s: &str) -> Vec<String> {
    let list = ok(&["list", s]);
    let at = list.lines().next().unwrap().find("ATTACHED").unwrap();
    let list: String = list
        .lines()
        .map(|l| format!("{}\n", l.get(..at).unwrap_or(l).trim_end()))
        .collect();
    let info: String = ok(&["info", s])
        .lines()
        .filter(|l| !l.starts_with("hold"))
        .map(|l| format!("{}\n", l))
        .collect();
    let mut list_json = common::json::parse(&ok(&["list", s, "--json"])).unwrap();
    if let common::json::Value::Obj(m) = &mut list_json {
        if let Some(common::json::Value::Arr(vdis)) = m.get_mut("vdis") {
            for v in vdis {
                if let common::json::Value::Obj(v) = v {
                    v.remove("attached_by");
                }
            }
        }
    }
    vec![
        list,
        format!("{:?}", list_json),
        info,
        ok(&["tree", s]),
        ok(&["tree", s, "--json"]),
        ok(&["tree", s, "--dot"]),
        ok(&["snaps", s, "base"]),
        ok(&["snaps", s, "vm1", "--json"]),
        ok(&["check", s]).lines().next().unwrap().to_string(),
    ]
}

#[test]
fn host_ids_are_the_kernels() {
    // FNV-1a 64 of the hostname bytes, as the kernel hashes its nodename.
    assert_eq!(host_id(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(host_id(b"foobar"), 0x8594_4171_f739_67e8);
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(me(), host_id(name.trim_end_matches('\n').as_bytes()));
}

#[test]
fn reading_a_held_store_says_what_it_says_offline() {
    let dir = TempDir::new("live1");
    let (p, _) = populated(&dir);
    let s = p.to_str().unwrap();
    let before = views(s);
    let host = me();
    attach(&p, "vm1", host);
    attach(&p, "vm2", 42);
    for e in extents(&p, ExtentKind::Metadata)
        .into_iter()
        .chain(extents(&p, ExtentKind::Data))
    {
        catalogue(&p, e, |x| x.owner = host);
    }
    let after = views(s);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }

    // The hold columns name the hosts, this one as such.
    let list = ok(&["list", s]);
    let row = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{} ", name)))
            .unwrap()
            .to_string()
    };
    assert!(row("vm1").ends_with(&format!("host {} (this host)", host)));
    assert!(row("vm2").ends_with(" host 42"), "{}", row("vm2"));
    assert!(row("base").ends_with(" -"));
    let info = ok(&["info", s]);
    assert!(info.contains(&format!(
        "hold:         VDI 'vm1' is attached by host {} (this host)\n",
        host
    )));
    assert!(info.contains("hold:         VDI 'vm2' is attached by host 42\n"));
    assert!(
        info.contains(&format!("are held by host {} (this host)\n", host)),
        "{}",
        info
    );
    let j = common::json::parse(&ok(&["info", s, "--json"])).unwrap();
    assert_eq!(j.get("this_host").num(), host as f64);
    assert_eq!(j.get("holds").arr().len(), 3);

    // check on a held store: clean, and it says who uses it.
    let c = pvdisk(&["check", s]);
    assert_eq!(c.code, Some(0), "{}", c.err);
    assert!(
        c.out.contains(&format!(
            "store is in use by host 42 and host {} (this host): checked as last committed",
            host
        )) || c.out.contains(&format!(
            "store is in use by host {} (this host) and host 42: checked as last committed",
            host
        )),
        "{}",
        c.out
    );
    // export reads too.
    let out = dir.file("vm1.raw");
    ok(&["export", s, "vm1", out.to_str().unwrap()]);
}

#[test]
fn every_change_is_refused_and_changes_nothing() {
    let dir = TempDir::new("live2");
    let (p, img) = populated(&dir);
    let s = p.to_str().unwrap();
    let host = me();
    attach(&p, "vm1", host);
    let data = extents(&p, ExtentKind::Data);
    catalogue(&p, data[0], |x| x.owner = host);
    let leaks = reserve(&p, data[0], ExtentKind::Data, host, 3);
    let image = std::fs::read(&p).unwrap();
    let img = img.to_str().unwrap();
    let changes: &[&[&str]] = &[
        &["create", s, "new", "--size", "1M"],
        &["create", s, "c", "--from", "golden"],
        &["delete", s, "vm2"],
        &["delete", s, "base"],
        &["snapshot", s, "vm1"],
        &["label", s, "golden", "gold"],
        &["rename", s, "vm2", "vm3"],
        &["resize", s, "vm2", "16M"],
        &["import", s, "vm2", img],
        &["gc", s],
    ];
    for args in changes {
        let r = pvdisk(args);
        assert_eq!(r.code, Some(1), "{:?} exited {:?}: {}", args, r.code, r.err);
        assert!(
            r.err.contains(&format!(
                "store is in use: VDI 'vm1' is attached by host {} (this host); extent {} is held by host {} (this host)",
                host, data[0], host
            )),
            "{:?}: {}",
            args,
            r.err
        );
        assert!(r.err.contains("power the disks off first"), "{}", r.err);
        assert_eq!(r.out, "", "{:?}", args);
        assert!(
            std::fs::read(&p).unwrap() == image,
            "{:?} changed the store",
            args
        );
    }

    // check: the driver's reserve is leaks, exit 0, never corruption.
    let c = pvdisk(&["check", s]);
    assert_eq!(c.code, Some(0), "{}", c.err);
    assert!(!c.out.contains("corrupt"), "{}", c.out);
    assert!(
        c.out.contains(&format!(
            "store is in use by host {} (this host): leaks below are the live driver's reserve and uncommitted writes\n",
            host
        )),
        "{}",
        c.out
    );
    let list: Vec<String> = leaks.iter().map(|b| b.to_string()).collect();
    assert!(
        c.out.contains(&format!(
            "leaked: 3 blocks (12K) allocated but unreachable, expected while disks are powered (gc only after power-off): {}\n",
            list.join(" ")
        )),
        "{}",
        c.out
    );
    assert!(c.out.ends_with("clean (with leaks)\n"), "{}", c.out);
    let j = common::json::parse(&ok(&["check", s, "--json"])).unwrap();
    assert_eq!(j.get("clean"), &common::json::Value::Bool(true));
    let leaked: Vec<u64> = j
        .get("leaked")
        .arr()
        .iter()
        .map(|v| v.num() as u64)
        .collect();
    assert_eq!(leaked, leaks);
    assert_eq!(j.get("in_use_by").arr().len(), 1);
    assert!(
        std::fs::read(&p).unwrap() == image,
        "check changed the store"
    );

    // gc --force collects anyway, saying what it overrides: it frees the
    // driver's reserve, which is why it needs --force.
    let r = pvdisk(&["gc", s, "--force"]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.err.contains(&format!(
            "pvdisk: warning: --force: ignoring that VDI 'vm1' is attached by host {} (this host)",
            host
        )),
        "{}",
        r.err
    );
    assert!(r.out.starts_with("gc: freed 3 blocks"), "{}", r.out);
    let c = ok(&["check", s]);
    assert!(!c.contains("leaked"), "{}", c);
}

#[test]
fn a_freshly_claimed_extent_with_reserve_is_leaks_not_damage() {
    let dir = TempDir::new("live3");
    let (p, _) = populated(&dir);
    let s = p.to_str().unwrap();
    attach(&p, "vm2", 42);
    // The driver of host 42 claimed a metadata and a data extent and
    // reserved blocks in them.
    let free = extents(&p, ExtentKind::Free);
    let mut leaks = reserve(&p, free[0], ExtentKind::Metadata, 42, 4);
    leaks.extend(reserve(&p, free[1], ExtentKind::Data, 42, 5));
    let meta = extents(&p, ExtentKind::Metadata);
    leaks.extend(reserve(&p, meta[0], ExtentKind::Metadata, 42, 2));
    leaks.sort_unstable();
    let j = common::json::parse(&ok(&["check", s, "--json"])).unwrap();
    assert_eq!(j.get("clean"), &common::json::Value::Bool(true));
    assert_eq!(j.get("corrupt").arr().len(), 0);
    let leaked: Vec<u64> = j
        .get("leaked")
        .arr()
        .iter()
        .map(|v| v.num() as u64)
        .collect();
    assert_eq!(leaked, leaks);
    assert_eq!(j.get("in_use_by").arr()[0].num(), 42.0);
    let info = ok(&["info", s]);
    assert!(
        info.contains(&format!(
            "hold:         extents {}-{} are held by host 42\n",
            free[0], free[1]
        )) || info.contains("are held by host 42\n"),
        "{}",
        info
    );
}

#[test]
fn damage_on_a_held_store_is_still_damage() {
    let dir = TempDir::new("live4");
    let (p, _) = populated(&dir);
    let s = p.to_str().unwrap();
    attach(&p, "vm1", 42);
    // A reachable data block marked free: every read shows it.
    let j = common::json::parse(&ok(&["check", s, "--json"])).unwrap();
    assert_eq!(j.get("leaked").arr().len(), 0);
    let f = open(&p);
    let sb = superblock(&f);
    let e = extents(&p, ExtentKind::Data)[0];
    let nr = sb.extent_start(e);
    let mut bm =
        BitmapBlock::decode(&read(&f, nr), sb.store_id(), nr, e, 0, sb.extent_blocks).unwrap();
    let used = (sb.bitmap_blocks() as usize..sb.extent_blocks as usize)
        .find(|&i| bm.get(i))
        .unwrap();
    bm.set(used, false);
    let mut raw = [0u8; BLOCK_SIZE];
    bm.encode(&mut raw, sb.store_id(), nr);
    write(&f, nr, &raw);
    let r = pvdisk(&["check", s]);
    assert_eq!(r.code, Some(1), "{}", r.out);
    assert!(r.out.contains("corrupt: block"), "{}", r.out);
    assert!(
        r.err
            .contains("in use by host 42, every problem was seen in all 3 reads"),
        "{}",
        r.err
    );
}
