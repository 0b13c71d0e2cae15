// SPDX-License-Identifier: GPL-2.0

//! Live management without a kernel: finding the powered disks of a store
//! by its UUID (with a fake `/sys/block`), the path the tool picks, and
//! the sentence for each errno the driver gives, which must be the
//! offline command's own sentence whenever the committed state shows the
//! cause (compared with what the real binary prints offline on the same
//! store). What the driver does is tested in the VM
//! (tests/pvdisk_live_manage.sh).

mod common;

use common::{new_store, TempDir};
use pvdisk::live::{
    self, create_refusal, disk_number, disks_of, disks_text, explain, store_uuid, Disk, DiskSource,
    Live, Managed, Request,
};
use pvdisk::names::Named;
use pvdisk::online::DiskInfo;
use pvdisk::store::Access;
use pvdisk::{Error, Store};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake `/sys/block`: names, and what each disk answers.
struct Fake {
    names: Vec<&'static str>,
    infos: BTreeMap<&'static str, DiskInfo>,
    node: Option<PathBuf>,
}

impl DiskSource for Fake {
    fn names(&self) -> Vec<String> {
        self.names.iter().map(|s| s.to_string()).collect()
    }
    fn info(&self, name: &str) -> Option<DiskInfo> {
        self.infos.get(name).cloned()
    }
    fn node(&self, name: &str) -> PathBuf {
        match &self.node {
            Some(p) => p.clone(),
            None => Path::new("/dev").join(name),
        }
    }
}

fn info(name: &str, vdi_id: u64, snapshot: Option<u64>, uuid: &str) -> DiskInfo {
    DiskInfo {
        name: name.into(),
        vdi_id,
        bytes: 1 << 20,
        snapshots: 2,
        snapshot,
        store_uuid: uuid.into(),
    }
}

/// A store with VDI `gold` (id 1) with snapshots gold@1 'base' and
/// gold@2, clone `vm1` (id 2) of base, and the lone VDI `lone` (id 3).
fn store(dir: &TempDir) -> (PathBuf, Store) {
    let (p, mut s) = new_store(dir, 16);
    let gold = s.create_vdi("gold", 1 << 20).unwrap();
    s.snapshot(gold, "base").unwrap();
    s.snapshot(gold, "").unwrap();
    let base = s.resolve_snapshot("base").unwrap();
    s.clone_snapshot(base, "vm1", None).unwrap();
    s.create_vdi("lone", 1 << 20).unwrap();
    drop(s);
    // Waits for the lock: a process another test spawns may hold a copy
    // of the descriptor until it execs.
    (p.clone(), Store::open_wait(&p, false, true).unwrap())
}

/// `pvdisk ARGS` offline: (status, stderr).
fn offline(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(args)
        .arg("--wait")
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8(o.stderr).unwrap())
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

const ENOENT: i32 = 2;
const EIO: i32 = 5;
const E2BIG: i32 = 7;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ENOTTY: i32 = 25;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;
const ENOTEMPTY: i32 = 39;
const EPERM: i32 = 1;

#[test]
fn disks_are_found_by_store_uuid_in_number_order() {
    assert_eq!(disk_number("pvdisk0"), Some(0));
    assert_eq!(disk_number("pvdisk12"), Some(12));
    for other in [
        "pvdisk",
        "pvdisk1p1",
        "sda",
        "pvdisk-1",
        "loop0",
        "pvdisk1 ",
    ] {
        assert_eq!(disk_number(other), None, "{other}");
    }
    let mine = "ab".repeat(16);
    let theirs = "cd".repeat(16);
    let fake = Fake {
        // Unsorted, with a non-disk name, a disk of another store and one
        // that does not answer (a pass-through disk).
        names: vec![
            "pvdisk10", "sda", "pvdisk2", "pvdisk3", "pvdisk7", "pvdisk1",
        ],
        infos: BTreeMap::from([
            ("pvdisk10", info("gold", 1, Some(1), &mine)),
            ("pvdisk2", info("vm1", 2, None, &mine)),
            ("pvdisk3", info("gold", 1, None, &theirs)),
            ("sda", info("gold", 1, None, &mine)),
        ]),
        node: None,
    };
    let found = disks_of(&fake, &mine);
    let paths: Vec<_> = found.iter().map(|d| d.path.clone()).collect();
    assert_eq!(
        paths,
        [
            PathBuf::from("/dev/pvdisk2"),
            PathBuf::from("/dev/pvdisk10")
        ]
    );
    assert_eq!(
        disks_text(&found),
        "/dev/pvdisk2 shows vm1, /dev/pvdisk10 shows gold@1"
    );
    assert!(disks_of(&fake, &"ef".repeat(16)).is_empty());
}

#[test]
fn the_path_is_picked_by_the_kernels_claim_not_by_a_uuid() {
    let dir = TempDir::new("live-path");
    let (p, s) = store(&dir);
    let uuid = store_uuid(&s);
    assert_eq!(uuid.len(), 32);
    drop(s);
    let fake = Fake {
        names: vec!["pvdisk0"],
        infos: BTreeMap::from([("pvdisk0", info("gold", 1, None, &uuid))]),
        node: None,
    };
    // A regular file is never claimed: offline, even with a disk of the
    // same UUID (a copy of a live store is still a file to change).
    let access = Access {
        write: true,
        wait: true,
        force: false,
    };
    let m = live::open_with(&fake, &p, access).unwrap();
    assert!(matches!(m, Managed::Offline(..)));
    drop(m);
    // Live::find is what a claimed device leads to: it finds the disk.
    let live = Live::find(&fake, &p, true).expect("a disk of the store");
    assert_eq!(live.disks.len(), 1);
    assert_eq!(
        live.disk_showing("gold").unwrap().path,
        Path::new("/dev/pvdisk0")
    );
    assert!(live.disk_showing("vm1").is_none());
    let none = Fake {
        names: vec!["pvdisk0"],
        infos: BTreeMap::from([("pvdisk0", info("gold", 1, None, &"00".repeat(16)))]),
        node: None,
    };
    assert!(Live::find(&none, &p, true).is_none());
}

/// One powered disk, pvdisk0 showing gold of the store `uuid`, whose
/// device node is `/dev/null`: every ioctl reaches it and is refused with
/// ENOTTY.
fn null_disk(uuid: &str) -> Fake {
    Fake {
        names: vec!["pvdisk0"],
        infos: BTreeMap::from([("pvdisk0", info("gold", 1, None, uuid))]),
        node: Some(PathBuf::from("/dev/null")),
    }
}

/// The live path all the way to the ioctl, with `/dev/null` standing in
/// for the disk: the request is made, refused with ENOTTY, and worded.
#[test]
fn requests_reach_the_disk_and_refusals_are_worded() {
    let dir = TempDir::new("live-null");
    let (p, s) = store(&dir);
    let uuid = store_uuid(&s);
    drop(s);
    let fake = null_disk(&uuid);
    let live = Live::find(&fake, &p, true).unwrap();
    let e = live.create("new", None, Some(1 << 20)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/null does not take live management requests (a driver older than the tool); \
         power the store's disks off to make the change offline (ENOTTY)"
    );
    let named = live.state.resolve("lone").unwrap();
    assert!(live
        .delete("lone", named, false)
        .unwrap_err()
        .to_string()
        .ends_with("(ENOTTY)"));
    let snap = live.state.resolve_snapshot("gold@2").unwrap();
    assert!(live
        .label("gold@2", snap, "two")
        .unwrap_err()
        .to_string()
        .ends_with("(ENOTTY)"));
    // What the committed state refuses is refused before any request,
    // with the offline sentence (no ENOTTY: the disk was not asked).
    let e = live.create("gold", None, Some(1 << 20)).unwrap_err();
    assert_eq!(e.to_string(), "a VDI named 'gold' already exists");
    let e = live.create("c", Some("nope"), None).unwrap_err();
    assert_eq!(e.to_string(), "no snapshot labelled 'nope'");
    let e = live.create("c", None, Some(1000)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VDI size must be a positive multiple of 4096 bytes"
    );
    let gold = live.state.resolve("gold").unwrap();
    let e = live.delete("gold", gold, false).unwrap_err();
    assert!(
        e.to_string().starts_with("VDI 'gold' is not alone: "),
        "{e}"
    );
    assert!(live
        .delete("gold", gold, true)
        .unwrap_err()
        .to_string()
        .ends_with("(ENOTTY)"));
    let e = live.label("gold@2", snap, "base").unwrap_err();
    assert_eq!(e.to_string(), "a snapshot labelled 'base' already exists");
    // Usage errors are found before any request, as offline (exit 2).
    let e = live.create("bad name", None, Some(1 << 20)).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    let e = live.label("gold@2", snap, "-x").unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    // Removing a label (offline: label "") is not asked of the driver,
    // which only sets them.
    let e = live.label("gold@2", snap, "").unwrap_err();
    assert!(
        e.to_string().contains("does not remove them") && !e.to_string().contains("ENOTTY"),
        "{e}"
    );
    // A disk that cannot be opened any more (powered off since the scan).
    let gone = Fake {
        node: Some(dir.file("no-such-disk")),
        ..fake
    };
    let live = Live::find(&gone, &p, true).unwrap();
    let e = live.create("new", None, Some(1 << 20)).unwrap_err();
    assert!(
        e.to_string()
            .contains("no powered disk of the store could be opened"),
        "{e}"
    );
}

/// A live batch (`create --count`) is checked whole on the committed
/// state before the first request, as offline; the driver's refusal of
/// a request stops the batch with what was made before it.
#[test]
fn a_live_batch_is_checked_first_and_stops_at_a_refusal() {
    let dir = TempDir::new("live-batch");
    let (p, s) = store(&dir);
    let uuid = store_uuid(&s);
    let slots = s.records().len();
    drop(s);
    let fake = null_disk(&uuid);
    let live = Live::find(&fake, &p, true).unwrap();
    let batch = |names: &[&str], from| live.create_many(names, from, None);
    // Refused by the state: no request (no ENOTTY), nothing made.
    let (made, e) = batch(&["c-1", "c-2", "vm1", "c-4"], Some("base"));
    assert!(made.is_empty());
    assert_eq!(e.unwrap().to_string(), "a VDI named 'vm1' already exists");
    let (made, e) = batch(&["c-1", "base"], Some("base"));
    assert!(made.is_empty());
    assert_eq!(
        e.unwrap().to_string(),
        "a snapshot labelled 'base' already exists"
    );
    let (_, e) = batch(&["c-1", "c-2"], Some("nope"));
    assert_eq!(e.unwrap().to_string(), "no snapshot labelled 'nope'");
    let (_, e) = batch(&["c-1", "bad name"], Some("base"));
    assert!(matches!(e, Some(Error::Usage(_))), "{e:?}");
    let many: Vec<String> = (1..=slots).map(|i| format!("c-{i}")).collect();
    let (made, e) = live.create_many(&many, Some("base"), None);
    assert!(made.is_empty());
    let e = e.unwrap().to_string();
    assert!(e.starts_with("VDI registry has room for "), "{e}");
    // Passed: the first request is made, refused, and stops the batch.
    let (made, e) = batch(&["c-1", "c-2"], Some("base"));
    assert!(made.is_empty());
    assert!(e.unwrap().to_string().ends_with("(ENOTTY)"));
}

/// Each errno whose cause the committed state shows gets the offline
/// command's sentence, byte for byte, and the same exit status.
#[test]
fn refusals_the_state_explains_read_as_offline() {
    let dir = TempDir::new("live-words");
    let (p, s) = store(&dir);
    // The state is read from a copy: the open store's shared lock would
    // keep the offline commands waiting. They are all refused, so the
    // store stays as the copy.
    drop(s);
    let copy = dir.file("state.img");
    std::fs::copy(&p, &copy).unwrap();
    let s = Store::open_wait(&copy, false, true).unwrap();
    let ps = p.to_str().unwrap();
    let disk = Path::new("/dev/pvdisk0");
    let same = |cmd: &str, args: &[&str], code: i32, req: Request<'_>| {
        let live_err = explain(&req, &errno(code), &s, &[], disk);
        let mut all = vec![cmd, ps];
        all.extend_from_slice(args);
        let (status, err) = offline(&all);
        assert_eq!(
            err.lines().next().unwrap_or(""),
            format!("pvdisk {}: {}", cmd, live_err),
            "{all:?} with errno {code}"
        );
        assert_eq!(status, Some(i32::from(live_err.exit_code())), "{all:?}");
    };
    let create = |name, from, bytes| Request::Create { name, from, bytes };
    // create: name in use (by a VDI, by a label), no such snapshot,
    // deleted or unnumbered snapshot, bad sizes.
    same(
        "create",
        &["gold", "--size", "1M"],
        EEXIST,
        create("gold", None, 1 << 20),
    );
    same(
        "create",
        &["base", "--size", "1M"],
        EEXIST,
        create("base", None, 1 << 20),
    );
    same(
        "create",
        &["c", "--from", "nope"],
        ENOENT,
        create("c", Some("nope"), 0),
    );
    same(
        "create",
        &["c", "--from", "gold@9"],
        ENOENT,
        create("c", Some("gold@9"), 0),
    );
    same(
        "create",
        &["c", "--from", "gold@x"],
        EINVAL,
        create("c", Some("gold@x"), 0),
    );
    same(
        "create",
        &["c", "--size", "1000"],
        EINVAL,
        create("c", None, 1000),
    );
    same(
        "create",
        &["c", "--from", "base", "--size", "1T"],
        EINVAL,
        create("c", Some("base"), 1 << 40),
    );
    // delete: a VDI that is not alone, without --force.
    let gold = Named::Vdi(s.find_vdi("gold").unwrap());
    same(
        "delete",
        &["gold"],
        ENOTEMPTY,
        Request::Delete {
            target: "gold",
            named: gold,
        },
    );
    // label: label in use (by a VDI, by another snapshot).
    let two = s.resolve_snapshot("gold@2").unwrap();
    for taken in ["vm1", "base"] {
        same(
            "label",
            &["gold@2", taken],
            EEXIST,
            Request::Label {
                spec: "gold@2",
                snap: two,
                label: taken,
            },
        );
    }
}

#[test]
fn refusals_only_the_driver_knows_name_the_errno() {
    let dir = TempDir::new("live-errno");
    let (_p, s) = store(&dir);
    let uuid = store_uuid(&s);
    let disk = Path::new("/dev/pvdisk0");
    let disks = vec![
        Disk {
            path: "/dev/pvdisk0".into(),
            info: info("gold", 1, None, &uuid),
        },
        Disk {
            path: "/dev/pvdisk1".into(),
            info: info("gold", 1, Some(1), &uuid),
        },
        Disk {
            path: "/dev/pvdisk2".into(),
            info: info("vm1", 2, None, &uuid),
        },
    ];
    let gold = Request::Delete {
        target: "gold",
        named: Named::Vdi(s.find_vdi("gold").unwrap()),
    };
    let base = Request::Delete {
        target: "base",
        named: Named::Snapshot(s.resolve_snapshot("base").unwrap()),
    };
    let two = Request::Delete {
        target: "gold@2",
        named: Named::Snapshot(s.resolve_snapshot("gold@2").unwrap()),
    };
    let say = |req: &Request<'_>, code: i32, disks: &[Disk]| {
        let e = explain(req, &errno(code), &s, disks, disk);
        assert_eq!(e.exit_code(), 1);
        e
    };
    // EBUSY names the disks that show the target.
    let e = say(&base, EBUSY, &disks);
    assert!(matches!(e, Error::Busy(_)));
    assert_eq!(
        e.to_string(),
        "snapshot gold@1 is shown by a powered disk (/dev/pvdisk1); power it off first (EBUSY)"
    );
    assert_eq!(
        say(&two, EBUSY, &disks).to_string(),
        "snapshot gold@2 is shown by a powered disk (EBUSY)"
    );
    assert_eq!(
        say(&gold, EBUSY, &disks).to_string(),
        "VDI 'gold' is shown by a powered disk (/dev/pvdisk0); power it off first (EBUSY)"
    );
    assert_eq!(
        say(&gold, EBUSY, &disks[1..]).to_string(),
        "a snapshot of VDI 'gold' is shown by a powered disk (/dev/pvdisk1 shows gold@1); \
         power it off first (EBUSY)"
    );
    // The rest: one sentence each, naming the errno.
    let lone = Request::Create {
        name: "new",
        from: None,
        bytes: 1 << 20,
    };
    for (code, name) in [
        (EPERM, "EPERM"),
        (ENOSPC, "ENOSPC"),
        (EROFS, "EROFS"),
        (EIO, "EIO"),
        (E2BIG, "E2BIG"),
        (ENOTTY, "ENOTTY"),
        // The state shows no cause: the race is worded generically.
        (EEXIST, "EEXIST"),
        (ENOENT, "ENOENT"),
        (EINVAL, "EINVAL"),
    ] {
        let e = say(&lone, code, &disks);
        assert!(e.to_string().ends_with(&format!(" ({name})")), "{e}");
    }
    assert!(matches!(say(&lone, EIO, &disks), Error::Io(_)));
    assert!(say(&lone, EPERM, &disks)
        .to_string()
        .contains("CAP_SYS_ADMIN"));
    // An errno the interface does not give: the OS's words.
    assert_eq!(
        say(&lone, 12, &disks).to_string(),
        "/dev/pvdisk0: Cannot allocate memory"
    );
    // The state's verdict on a create the driver refused: none when all
    // offline checks pass.
    assert!(create_refusal(&s, "new", Some("base"), 0).is_none());
    assert!(create_refusal(&s, "new", None, 1 << 20).is_none());
}
