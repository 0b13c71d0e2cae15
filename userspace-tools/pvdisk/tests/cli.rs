// SPDX-License-Identifier: GPL-2.0

//! Runs the `pvdisk` binary: exit status 0/1/2 and the messages users see.

mod common;

use common::{sparse_file, TempDir};
use std::path::Path;
use std::process::{Command, Output};

fn pvdisk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(args)
        .output()
        .expect("run pvdisk")
}

fn ok(args: &[&str]) -> String {
    let o = pvdisk(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{:?}: {}",
        args,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Runs and expects exit `code`; returns stderr.
fn fails(code: i32, args: &[&str]) -> String {
    let o = pvdisk(args);
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(code), "{:?}: {}", args, err);
    err
}

fn store(dir: &TempDir) -> String {
    let p = dir.file("s.img");
    sparse_file(&p, 32 << 20);
    let s = p.to_str().unwrap().to_string();
    ok(&["format", &s, "--extent-size", "1M"]);
    s
}

#[test]
fn usage_errors_exit_2() {
    fails(2, &[]);
    let e = fails(2, &["frobnicate"]);
    assert!(e.contains("unknown command 'frobnicate'"), "{}", e);
    let e = fails(2, &["format"]);
    assert!(e.contains("missing STORE"), "{}", e);
    let e = fails(2, &["create", "x", "y", "--size", "12Q"]);
    assert!(e.contains("bad size '12Q'"), "{}", e);
    let e = fails(2, &["create", "x", "y"]);
    assert!(e.contains("--size is required"), "{}", e);
    let e = fails(2, &["list", "a", "b"]);
    assert!(e.contains("unexpected argument 'b'"), "{}", e);
    let e = fails(2, &["tree", "a", "--bogus"]);
    assert!(e.contains("unknown option '--bogus'"), "{}", e);
}

#[test]
fn every_subcommand_has_help() {
    for c in [
        "format", "info", "list", "create", "delete", "snapshot", "snaps", "label", "rename",
        "resize", "tree", "import", "export", "check", "gc",
    ] {
        let out = ok(&[c, "--help"]);
        assert!(out.contains(&format!("Usage: pvdisk {}", c)), "{}", out);
    }
    assert!(ok(&["--help"]).contains("pvdisk gc STORE"));
}

#[test]
fn lifecycle_and_messages() {
    let dir = TempDir::new("cli");
    let s = store(&dir);
    let e = fails(1, &["format", &s]);
    assert!(e.contains("already holds a pvdisk store"), "{}", e);
    ok(&["create", &s, "golden", "--size", "8M"]);
    let e = fails(1, &["create", &s, "golden", "--size", "8M"]);
    assert!(e.contains("a VDI named 'golden' already exists"), "{}", e);
    assert!(ok(&["snapshot", &s, "golden", "--label", "base"]).contains("golden@1"));
    ok(&["create", &s, "vm1", "--from", "base"]);
    ok(&["create", &s, "vm2", "--from", "golden@1"]);
    ok(&["snapshot", &s, "vm1"]);
    let e = fails(1, &["create", &s, "vm3", "--from", "golden@7"]);
    assert!(e.contains("no snapshot 'golden@7'"), "{}", e);
    let e = fails(1, &["create", &s, "vm3", "--from", "nolabel"]);
    assert!(e.contains("no snapshot labelled 'nolabel'"), "{}", e);
    ok(&["label", &s, "vm1@1", "patched"]);
    let snaps = ok(&["snaps", &s, "vm1"]);
    assert!(
        snaps.contains("vm1@1") && snaps.contains("patched"),
        "{}",
        snaps
    );
    let list = ok(&["list", &s]);
    assert!(
        list.contains("vm2") && list.contains("golden@1"),
        "{}",
        list
    );
    let tree = ok(&["tree", &s]);
    assert!(
        tree.contains("golden@1") && tree.contains("base") && tree.contains("└── vm2"),
        "{}",
        tree
    );
    let dot = ok(&["tree", &s, "--dot"]);
    assert!(dot.starts_with("digraph pvdisk {"), "{}", dot);
    assert!(dot.contains("s1_1 -> vdi3 [style=dashed"), "{}", dot);
    let info = ok(&["info", &s]);
    assert!(
        info.contains("version 1") && info.contains("3 live"),
        "{}",
        info
    );
    assert!(ok(&["check", &s]).contains("clean"));
    ok(&["delete", &s, "vm2"]);
    ok(&["delete", &s, "patched"]);
    let e = fails(1, &["delete", &s, "vm2"]);
    assert!(e.contains("no VDI or snapshot named 'vm2'"), "{}", e);
    assert!(ok(&["check", &s]).contains("clean (with leaks)"));
    assert!(ok(&["gc", &s]).contains("removed 1 deleted VDIs"));
    let out = ok(&["check", &s]);
    assert!(out.contains("clean") && !out.contains("leak"), "{}", out);
}

#[test]
fn snapshot_without_vdi_is_decided_by_the_path_not_its_name() {
    let dir = TempDir::new("cli-online");
    // A store whose file name starts with "pvdisk" is still a store.
    let p = dir.file("pvdisk.img");
    sparse_file(&p, 8 << 20);
    let s = p.to_str().unwrap();
    ok(&["format", s, "--extent-size", "1M"]);
    let e = fails(2, &["snapshot", s]);
    assert!(e.contains("missing VDI"), "{}", e);
    let e = fails(1, &["snapshot", dir.file("pvdisk0").to_str().unwrap()]);
    assert!(e.contains("No such file or directory"), "{}", e);
    assert!(!e.contains("os error"), "{}", e);
    // A device that does not answer PVDISK_IOC_INFO is no disk, and a
    // file that holds no store is no store: neither is a usage error.
    let e = fails(1, &["snapshot", "/dev/null", "--label", "x"]);
    assert!(e.contains("neither a store nor a pvdisk disk"), "{}", e);
    let other = dir.file("other.img");
    sparse_file(&other, 1 << 20);
    let e = fails(1, &["snapshot", other.to_str().unwrap()]);
    assert!(e.contains("neither a store nor a pvdisk disk"), "{}", e);
    // info on a store file is still the store's.
    assert!(ok(&["info", s]).contains("uuid:"));
}

#[test]
fn not_a_store_and_too_small() {
    let dir = TempDir::new("cli2");
    let p = dir.file("junk.img");
    std::fs::write(&p, vec![7u8; 1 << 20]).unwrap();
    let e = fails(1, &["info", p.to_str().unwrap()]);
    assert!(e.contains("not a pvdisk store"), "{}", e);
    let e = fails(1, &["format", p.to_str().unwrap(), "--extent-size", "1M"]);
    assert!(e.contains("smaller than two extents"), "{}", e);
    let e = fails(1, &["format", p.to_str().unwrap(), "--extent-size", "64K"]);
    assert!(e.contains("extent smaller than 1 MiB"), "{}", e);
    // Two extents cannot hold a VDI block (metadata and data extents).
    let two = dir.file("two.img");
    sparse_file(&two, 2 << 20);
    let e = fails(1, &["format", two.to_str().unwrap()]);
    assert!(e.contains("needs three (system, metadata, data)"), "{}", e);
    assert_eq!(e.lines().count(), 1, "{}", e);
    let e = fails(1, &["info", dir.file("missing").to_str().unwrap()]);
    assert!(e.contains("No such file"), "{}", e);
}

#[test]
fn corrupt_store_check_exits_1() {
    let dir = TempDir::new("cli3");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "4M"]);
    // Flip a byte in the VDI's root node, found through the library.
    let st = pvdisk::Store::open(Path::new(&s), false).unwrap();
    let root = st.vdi(st.find_vdi("v").unwrap()).unwrap().root;
    drop(st);
    let mut bytes = std::fs::read(&s).unwrap();
    bytes[(root * 4096 + 100) as usize] ^= 1;
    std::fs::write(&s, bytes).unwrap();
    let o = pvdisk(&["check", &s]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("corrupt: block {}: bad checksum", root)),
        "{}",
        out
    );
    let e = fails(1, &["gc", &s]);
    assert!(
        e.contains(&format!("block {}: bad checksum", root)),
        "{}",
        e
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("(1 problems: 1 damaged)"), "{}", e);
    let j = pvdisk(&["check", &s, "--json"]);
    assert_eq!(j.status.code(), Some(1));
    let v = common::json::parse(&String::from_utf8_lossy(&j.stdout)).unwrap();
    assert_eq!(v.get("corrupt").arr()[0].get("problem").str(), "damaged");
}

#[test]
fn held_store_needs_force() {
    let dir = TempDir::new("cli4");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "4M"]);
    let mut st = pvdisk::Store::open(Path::new(&s), true).unwrap();
    let slot = st.find_vdi("v").unwrap();
    let mut rec = st.vdi(slot).unwrap();
    rec.attached_by = 42;
    st.set_vdi(slot, rec);
    st.flush().unwrap();
    drop(st);
    // --wait: a child spawned meanwhile by another test thread may still
    // hold a copy of our descriptor, and so the lock, until it execs.
    let e = fails(1, &["snapshot", &s, "v", "--wait"]);
    assert!(e.contains("VDI 'v' is attached by host 42"), "{}", e);
    assert!(e.contains("--force"), "{}", e);
    fails(1, &["gc", &s]);
    // Read-only commands still work.
    assert!(ok(&["list", &s]).contains("host 42"));
    ok(&["check", &s]);
    let o = pvdisk(&["snapshot", &s, "v", "--force"]);
    assert_eq!(o.status.code(), Some(0));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--force: ignoring that VDI 'v' is attached by host 42"),
        "{}",
        e
    );
}

#[test]
fn import_export_cli() {
    let dir = TempDir::new("cli5");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "4M"]);
    let img = dir.file("in.raw");
    let mut data = vec![0u8; 3 << 20];
    data[4096 * 10..4096 * 10 + 5].copy_from_slice(b"hello");
    data[(3 << 20) - 1] = 1;
    std::fs::write(&img, &data).unwrap();
    let out = ok(&["import", &s, "v", img.to_str().unwrap()]);
    assert!(out.contains("2 written"), "{}", out);
    ok(&["snapshot", &s, "v", "--label", "s1"]);
    let exp = dir.file("out.raw");
    ok(&["export", &s, "s1", exp.to_str().unwrap()]);
    let got = std::fs::read(&exp).unwrap();
    assert_eq!(got.len(), 4 << 20);
    assert!(got[..data.len()] == data[..]);
    let e = fails(1, &["export", &s, "nope", exp.to_str().unwrap()]);
    assert!(e.contains("no VDI or snapshot named 'nope'"), "{}", e);
}

#[test]
fn export_refuses_its_own_store_and_existing_files() {
    let dir = TempDir::new("cli-self");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "4K"]);
    let before = std::fs::metadata(&s).unwrap().len();
    let e = fails(1, &["export", &s, "v", &s]);
    assert!(e.contains("is the store itself"), "{}", e);
    // Through a symbolic link too.
    let link = dir.file("link.img");
    std::os::unix::fs::symlink(&s, &link).unwrap();
    let e = fails(1, &["export", &s, "v", link.to_str().unwrap()]);
    assert!(e.contains("is the store itself"), "{}", e);
    let e = fails(1, &["import", &s, "v", link.to_str().unwrap()]);
    assert!(e.contains("is the store itself"), "{}", e);
    assert_eq!(std::fs::metadata(&s).unwrap().len(), before);
    assert!(ok(&["check", &s]).contains("clean"));
    // An existing image is kept unless --force.
    let out = dir.file("out.raw");
    std::fs::write(&out, b"precious").unwrap();
    let e = fails(1, &["export", &s, "v", out.to_str().unwrap()]);
    assert!(e.contains("already exists (use --force"), "{}", e);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    ok(&["export", &s, "v", out.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), vec![0u8; 4096]);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{:?}", names);
}

#[test]
fn busy_store_is_refused_or_waited_for() {
    let dir = TempDir::new("cli-lock");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "4M"]);
    let f = std::fs::File::open(&s).unwrap();
    f.lock().unwrap();
    let e = fails(1, &["list", &s]);
    assert!(
        e.contains(&format!("another pvdisk command is using {}", s)),
        "{}",
        e
    );
    fails(1, &["snapshot", &s, "v"]);
    f.unlock().unwrap();
    f.lock_shared().unwrap();
    // Readers share the store; a writer must wait for them.
    ok(&["list", &s]);
    let e = fails(1, &["snapshot", &s, "v"]);
    assert!(e.contains("another pvdisk command is using"), "{}", e);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(["snapshot", &s, "v", "--wait"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "did not wait");
    f.unlock().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(ok(&["snaps", &s, "v"]).contains("v@1"));
}

#[test]
fn concurrent_commands_do_not_corrupt_the_store() {
    let dir = TempDir::new("cli-race");
    let s = store(&dir);
    ok(&["create", &s, "a", "--size", "4M"]);
    ok(&["create", &s, "b", "--size", "4M"]);
    let loops: Vec<_> = ["a", "b"]
        .iter()
        .map(|v| {
            let (s, v) = (s.clone(), v.to_string());
            std::thread::spawn(move || {
                for _ in 0..25 {
                    ok(&["snapshot", &s, &v, "--wait"]);
                }
            })
        })
        .collect();
    for l in loops {
        l.join().unwrap();
    }
    let out = ok(&["check", &s]);
    assert!(
        out.contains("50 snapshots") && out.contains("clean"),
        "{}",
        out
    );
}

#[test]
fn non_utf8_argument_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"v\xff");
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .arg("create")
        .arg("s.img")
        .arg(bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("argument 3") && e.contains("not valid UTF-8"),
        "{}",
        e
    );
    assert_eq!(e.lines().count(), 1, "{}", e);
}

#[test]
fn import_from_standard_input() {
    use std::io::Write;
    let dir = TempDir::new("cli-stdin");
    let s = store(&dir);
    ok(&["create", &s, "v", "--size", "1M"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(["import", &s, "v", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut data = vec![0u8; 3 * 4096 + 10];
    data[4096..8192].fill(7);
    data[3 * 4096..].fill(9);
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("standard input") && out.contains("2 written"),
        "{}",
        out
    );
    let exp = dir.file("out.raw");
    ok(&["export", &s, "v", exp.to_str().unwrap()]);
    let got = std::fs::read(&exp).unwrap();
    assert!(got[..data.len()] == data[..]);
    assert!(got[data.len()..].iter().all(|&x| x == 0));
}

#[test]
fn small_devices_get_small_extents() {
    let dir = TempDir::new("cli-small");
    for (size, extent) in [(2u64 << 30, "128M"), (3 << 30, "128M"), (64 << 20, "4M")] {
        let p = dir.file("s.img");
        sparse_file(&p, size);
        let s = p.to_str().unwrap();
        let out = ok(&["format", s, "--force"]);
        assert!(out.contains(&format!("extents of {}", extent)), "{}", out);
        ok(&["create", s, "v", "--size", "8M"]);
        let img = dir.file("one.raw");
        std::fs::write(&img, vec![1u8; 4096]).unwrap();
        assert!(ok(&["import", s, "v", img.to_str().unwrap()]).contains("1 written"));
        std::fs::remove_file(&p).unwrap();
    }
}

#[test]
fn format_refuses_what_it_recognises_and_info_tells_the_size() {
    let dir = TempDir::new("cli-sig");
    let p = dir.file("fs.img");
    sparse_file(&p, 65 << 20);
    let s = p.to_str().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0x53, 0xef], 1080).unwrap();
    drop(f);
    let e = fails(1, &["format", s, "--extent-size", "4M"]);
    assert!(
        e.contains("already holds an ext2/3/4 file system (use --force"),
        "{}",
        e
    );
    ok(&["format", s, "--extent-size", "4M", "--force"]);
    let info = ok(&["info", s]);
    assert!(
        info.contains("size:         65M (16640 blocks of 4K), 64M of it in extents"),
        "{}",
        info
    );
}

#[test]
fn names_follow_one_rule() {
    let dir = TempDir::new("cli-names");
    let s = store(&dir);
    for bad in ["a/b", "..", "it's", "a b", "x@1", "a\u{200b}b"] {
        let e = fails(2, &["create", &s, bad, "--size", "4K"]);
        assert!(e.contains("VDI name"), "{}: {}", bad, e);
    }
    let e = fails(2, &["create", &s, "--size", "4K", "--", "-x"]);
    assert!(e.contains("must not start with '-'"), "{}", e);
    ok(&["create", &s, "web-1.img_v+2", "--size", "4K"]);
    let e = fails(2, &["snapshot", &s, "web-1.img_v+2", "--label", "a/b"]);
    assert!(e.contains("label 'a/b'"), "{}", e);
}

#[test]
fn rename_resize_and_delete_with_force() {
    let dir = TempDir::new("cli-admin");
    let s = store(&dir);
    ok(&["create", &s, "golden", "--size", "1M"]);
    let img = dir.file("one.raw");
    std::fs::write(&img, vec![3u8; 8192]).unwrap();
    ok(&["import", &s, "golden", img.to_str().unwrap()]);
    ok(&["snapshot", &s, "golden", "--label", "base"]);
    ok(&["create", &s, "vm1", "--from", "base"]);
    // rename a VDI, then a snapshot's label; names stay one namespace.
    ok(&["rename", &s, "golden", "gold"]);
    ok(&["rename", &s, "base", "gold-base"]);
    let e = fails(1, &["rename", &s, "gold", "vm1"]);
    assert!(e.contains("a VDI named 'vm1' already exists"), "{}", e);
    let e = fails(1, &["rename", &s, "vm1", "gold-base"]);
    assert!(e.contains("a snapshot labelled 'gold-base'"), "{}", e);
    assert!(ok(&["snaps", &s, "gold"]).contains("gold@1"));
    assert!(ok(&["list", &s]).contains("gold@1"));
    // resize: grow (also past the tree's height), shrink only with --force
    // and only while nothing is mapped past the new end.
    ok(&["resize", &s, "vm1", "4M"]);
    let e = fails(1, &["resize", &s, "vm1", "4K"]);
    assert!(e.contains("use --force"), "{}", e);
    let e = fails(1, &["resize", &s, "vm1", "4K", "--force"]);
    assert!(e.contains("mapped at 4K past the new end"), "{}", e);
    ok(&["resize", &s, "vm1", "8K", "--force"]);
    ok(&["create", &s, "small", "--size", "4K"]);
    ok(&["resize", &s, "small", "1G"]);
    let e = fails(1, &["resize", &s, "gold", "1G"]);
    assert!(e.contains("taller tree"), "{}", e);
    let e = fails(2, &["resize", &s, "gold", "12Q"]);
    assert!(e.contains("bad size"), "{}", e);
    // delete says what else goes.
    let e = fails(1, &["delete", &s, "gold"]);
    assert!(
        e.contains("its snapshots gold@1 'gold-base' go with it")
            && e.contains("its clones vm1 stay but lose their parent")
            && e.contains("--force"),
        "{}",
        e
    );
    ok(&["delete", &s, "gold", "--force"]);
    let exp = dir.file("vm1.raw");
    ok(&["export", &s, "vm1", exp.to_str().unwrap()]);
    assert_eq!(std::fs::read(&exp).unwrap(), vec![3u8; 8192]);
    assert!(ok(&["check", &s]).contains("clean"));
}

#[test]
fn json_outputs_parse_and_match_the_text() {
    use common::json::parse;
    let dir = TempDir::new("cli-json");
    let s = store(&dir);
    ok(&["create", &s, "golden", "--size", "8M"]);
    let img = dir.file("in.raw");
    std::fs::write(&img, vec![1u8; 10 * 4096]).unwrap();
    ok(&["import", &s, "golden", img.to_str().unwrap()]);
    ok(&["snapshot", &s, "golden", "--label", "base"]);
    ok(&["create", &s, "vm1", "--from", "base"]);
    std::fs::write(&img, vec![2u8; 3 * 4096]).unwrap();
    ok(&["import", &s, "vm1", img.to_str().unwrap()]);

    let list = parse(&ok(&["list", &s, "--json"])).unwrap();
    let text = ok(&["list", &s, "--bytes"]);
    let vdis = list.get("vdis").arr();
    assert_eq!(vdis.len(), 2);
    for v in vdis {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(v.get("name").str()))
            .unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        for (i, key) in [(2, "size"), (3, "mapped"), (4, "exclusive")] {
            assert_eq!(cols[i], (v.get(key).num() as u64).to_string(), "{}", line);
        }
    }
    let golden = &vdis[0];
    assert_eq!(golden.get("mapped").num() as u64, 10 * 4096);
    // Its data is shared with vm1? No: vm1's import replaced its tree, so
    // deleting golden (with its snapshot) would free its 10 data blocks.
    assert!(golden.get("exclusive").num() as u64 >= 10 * 4096);
    assert_eq!(vdis[1].get("parent").str(), "golden@1");

    let info = parse(&ok(&["info", &s, "--json"])).unwrap();
    let text = ok(&["info", &s, "--bytes"]);
    let used = info.get("data").get("used").num() as u64;
    assert_eq!(used, 13 * 4096);
    assert!(
        text.contains(&format!("data:         {} used", used)),
        "{}",
        text
    );
    assert_eq!(info.get("vdis").get("live").num(), 2.0);
    assert!(info.get("overcommit").num() > 0.0);

    let snaps = parse(&ok(&["snaps", &s, "golden", "--json"])).unwrap();
    assert_eq!(snaps.arr()[0].get("label").str(), "base");
    assert_eq!(snaps.arr()[0].get("snapshot").str(), "golden@1");

    let tree = parse(&ok(&["tree", &s, "--json"])).unwrap();
    let clone = &tree.arr()[0].get("snapshots").arr()[0].get("clones").arr()[0];
    assert_eq!(clone.get("name").str(), "vm1");
}

#[test]
fn low_space_is_warned_about() {
    let dir = TempDir::new("cli-full");
    let p = dir.file("s.img");
    sparse_file(&p, 16 << 20);
    let s = p.to_str().unwrap();
    ok(&["format", s, "--extent-size", "1M"]);
    ok(&["create", s, "v", "--size", "16M"]);
    // 14 data extents hold 14 x 255 blocks; fill all but 10 of them.
    let img = dir.file("in.raw");
    std::fs::write(&img, vec![1u8; (14 * 255 - 10) * 4096]).unwrap();
    ok(&["import", s, "v", img.to_str().unwrap()]);
    let info = ok(&["info", s]);
    assert!(
        info.contains("warning:") && info.contains("% full"),
        "{}",
        info
    );
    let o = pvdisk(&["list", s]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("% full"));
}

/// `create --count N`: NAME-1 .. NAME-N made in one pass, each a clone
/// reading as its snapshot; any refusal leaves the store byte for byte
/// as it was, with the single create's sentence and exit status.
#[test]
fn create_count_makes_every_clone_or_none() {
    let dir = TempDir::new("cli-count");
    let s = store(&dir);
    ok(&["create", &s, "gold", "--size", "1M"]);
    let img = dir.file("gold.raw");
    let mut data = vec![0u8; 1 << 20];
    for (i, b) in data.iter_mut().enumerate().step_by(4096) {
        *b = (i / 4096 % 250) as u8 + 1;
    }
    std::fs::write(&img, &data).unwrap();
    ok(&["import", &s, "gold", img.to_str().unwrap()]);
    ok(&["snapshot", &s, "gold", "--label", "base"]);
    // gold moves on: the clones must read the snapshot, not the VDI.
    std::fs::write(&img, vec![9u8; 1 << 20]).unwrap();
    ok(&["import", &s, "gold", img.to_str().unwrap()]);

    let out = ok(&["create", &s, "web", "--from", "base", "--count", "12"]);
    let want: String = (1..=12)
        .map(|i| format!("created VDI 'web-{}' (1M), a clone of base\n", i))
        .collect();
    assert_eq!(out, want);
    let list = ok(&["list", &s]);
    for i in 1..=12 {
        let line = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&format!("web-{}", i)))
            .unwrap_or_else(|| panic!("web-{} not listed: {}", i, list));
        assert!(line.contains("gold@1"), "{}", line);
        let exp = dir.file(&format!("web-{}.raw", i));
        ok(&["export", &s, &format!("web-{}", i), exp.to_str().unwrap()]);
        assert!(
            std::fs::read(&exp).unwrap() == data,
            "web-{} is not base",
            i
        );
    }
    assert!(ok(&["check", &s]).ends_with("clean\n"));
    // A batch of one is named NAME-1; a clone of VDI@N and an empty batch
    // work alike.
    assert_eq!(
        ok(&["create", &s, "one", "--from", "gold@1", "--count", "1"]),
        "created VDI 'one-1' (1M), a clone of gold@1\n"
    );
    assert_eq!(
        ok(&["create", &s, "e", "--size", "8K", "--count", "2"]),
        "created VDI 'e-1' (8K)\ncreated VDI 'e-2' (8K)\n"
    );

    // Refusals: nothing changes.
    ok(&["create", &s, "x-3", "--size", "4K"]);
    ok(&["snapshot", &s, "x-3", "--label", "y-2"]);
    let before = std::fs::read(&s).unwrap();
    let long = "n".repeat(62);
    let refused: &[(i32, &[&str], &str)] = &[
        (
            1,
            &["x", "--count", "5"],
            "a VDI named 'x-3' already exists",
        ),
        (
            1,
            &["y", "--count", "5"],
            "a snapshot labelled 'y-2' already exists",
        ),
        (
            1,
            &["web", "--count", "13"],
            "a VDI named 'web-1' already exists",
        ),
        (
            1,
            &["z", "--count", "300"],
            "VDI registry has room for 237 more VDIs (254 slots), not 300",
        ),
        (
            1,
            &["z", "--from", "nope", "--count", "2"],
            "no snapshot labelled 'nope'",
        ),
        (2, &["z", "--count", "0"], "bad count '0' for --count"),
        (2, &["z", "--count", "-1"], "bad count '-1'"),
        (2, &["z", "--count", "+2"], "bad count '+2'"),
        (2, &["z", "--count", "two"], "bad count 'two'"),
        (
            2,
            &["z", "--count", "99999999999"],
            "bad count '99999999999'",
        ),
        (2, &["a/b", "--count", "2"], "VDI name 'a/b'"),
        (2, &[&long, "--count", "10"], "must be 1 to 64 bytes long"),
    ];
    for (code, args, msg) in refused {
        let mut a = vec!["create", &s];
        a.extend_from_slice(args);
        if !args.contains(&"--from") {
            a.extend_from_slice(&["--from", "base"]);
        }
        let e = fails(*code, &a);
        assert!(e.contains(msg), "{:?}: {}", args, e);
        assert!(
            std::fs::read(&s).unwrap() == before,
            "{:?} changed the store",
            args
        );
    }
    assert!(ok(&["check", &s]).ends_with("clean\n"));
}

/// A batch needs one metadata block per clone (its root): refused whole
/// when the store has fewer outside the reserve, made whole when it has
/// exactly enough.
#[test]
fn create_count_checks_the_space_first() {
    let dir = TempDir::new("cli-count-full");
    let p = dir.file("s.img");
    // Three extents: system, one of metadata, one of data.
    sparse_file(&p, 3 << 20);
    let s = p.to_str().unwrap();
    ok(&["format", s, "--extent-size", "1M"]);
    ok(&["create", s, "gold", "--size", "1M"]);
    let img = dir.file("in.raw");
    std::fs::write(&img, vec![7u8; 128 * 4096]).unwrap();
    ok(&["import", s, "gold", img.to_str().unwrap()]);
    ok(&["snapshot", s, "gold", "--label", "base"]);
    let before = std::fs::read(&p).unwrap();
    let e = fails(1, &["create", s, "c", "--from", "base", "--count", "250"]);
    let free: usize = e
        .split("250 metadata blocks needed, ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", e));
    assert!(e.contains("store is full: ") && free < 250, "{}", e);
    assert!(
        std::fs::read(&p).unwrap() == before,
        "the refusal changed the store"
    );
    let n = free.to_string();
    let e = fails(
        1,
        &[
            "create",
            s,
            "c",
            "--from",
            "base",
            "--count",
            &(free + 1).to_string(),
        ],
    );
    assert!(e.contains("store is full: "), "{}", e);
    assert!(std::fs::read(&p).unwrap() == before);
    let out = ok(&["create", s, "c", "--from", "base", "--count", &n]);
    assert_eq!(out.lines().count(), free);
    assert!(ok(&["check", s]).ends_with("clean\n"));
    let e = fails(1, &["create", s, "d", "--from", "base"]);
    assert!(
        e.contains("no free metadata block outside the reserve"),
        "{}",
        e
    );
}
