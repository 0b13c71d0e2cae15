// SPDX-License-Identifier: GPL-2.0

//! The C header `include/uapi/linux/pvdisk.h` and its Rust twin
//! `drivers/block/pvdisk/uapi.rs` describe the same bytes.
//!
//! A C program built with the host's `cc` against the header prints the
//! layout as the C compiler sees it: every struct's size, every field's
//! offset and size, the bytes no field covers (padding, which would make
//! 32-bit and 64-bit callers differ), the constants and command numbers,
//! and each struct filled with known values as raw bytes. The same facts
//! are derived from uapi.rs by what its encoders do: a field's place is
//! where the encoder writes a value that is non-zero in every byte, so a
//! wrong offset constant in uapi.rs shows, not just a wrong table. The two
//! sets must be equal, and uapi.rs must decode the C image into the values
//! the C program stored.
//!
//! Skipped, saying why, when the host has no C compiler or no kernel
//! uapi headers (`linux/ioctl.h`, `linux/types.h`).

mod common;

use common::TempDir;
use pvdisk::uapi::{
    self, Create, Delete, Header, Info, Label, Snapshot, CREATE_SIZE, DELETE_SIZE, INFO_SIZE,
    LABEL_SIZE, SNAPSHOT_SIZE,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Layout facts by name: `pvdisk_snapshot.seq` → `56+8` (offset+size),
/// `sizeof.pvdisk_info` → `128`, `image.pvdisk_info` → hex bytes.
type Facts = BTreeMap<String, String>;

/// The filled structs both sides encode. Every byte of every value is
/// non-zero, so a field that moves or shrinks changes the image.
fn filled_snapshot() -> (Header, Snapshot) {
    let mut label = [0u8; uapi::LABEL_LEN];
    label.copy_from_slice(b"abcdefghijklmnopqrstuvwxyz0123456789ABCD");
    let s = Snapshot {
        label,
        vdi_id: 0x1112_1314_1516_1718,
        seq: 0x2122_2324_2526_2728,
        log_block: 0x3132_3334_3536_3738,
        log_index: 0x4142_4344,
        timestamp: 0x5152_5354_5556_5758,
    };
    let h = Header {
        size: SNAPSHOT_SIZE as u32,
        flags: 0x6162_6364,
    };
    (h, s)
}

fn filled_info() -> (Header, Info) {
    let mut name = [0u8; uapi::NAME_LEN];
    for (i, c) in name.iter_mut().enumerate() {
        *c = b'A' + (i % 26) as u8;
    }
    let mut store_uuid = [0u8; uapi::UUID_LEN];
    for (i, c) in store_uuid.iter_mut().enumerate() {
        *c = 0xe0 + i as u8;
    }
    let info = Info {
        flags: 0x7172_7374,
        vdi_id: 0x1112_1314_1516_1718,
        disk_bytes: 0x2122_2324_2526_2728,
        snap_count: 0x3132_3334_3536_3738,
        snapshot: 0x4142_4344_4546_4748,
        store_uuid,
        name,
    };
    let h = Header {
        size: INFO_SIZE as u32,
        flags: 0x6162_6364,
    };
    (h, info)
}

/// `n` bytes, each non-zero and in the naming rule's alphabet, starting
/// at `first` and wrapping within `A-Z`.
fn letters<const N: usize>(first: u8) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, c) in out.iter_mut().enumerate() {
        *c = b'A' + ((first - b'A') as usize + i) as u8 % 26;
    }
    out
}

fn filled_create() -> (Header, Create) {
    let c = Create {
        bytes: 0x1112_1314_1516_1718,
        name: letters(b'C'),
        from: letters(b'F'),
        vdi_id: 0x2122_2324_2526_2728,
    };
    let h = Header {
        size: CREATE_SIZE as u32,
        flags: 0x6162_6364,
    };
    (h, c)
}

fn filled_delete() -> (Header, Delete) {
    let d = Delete {
        target: letters(b'T'),
    };
    let h = Header {
        size: DELETE_SIZE as u32,
        flags: 0x6162_6364,
    };
    (h, d)
}

fn filled_label() -> (Header, Label) {
    let l = Label {
        snapshot: letters(b'S'),
        label: letters(b'L'),
    };
    let h = Header {
        size: LABEL_SIZE as u32,
        flags: 0x6162_6364,
    };
    (h, l)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{:02x}", c)).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex byte"))
        .collect()
}

/// `offset+size` of the bytes an encoder set, or `none`.
fn span(b: &[u8]) -> String {
    match (
        b.iter().position(|&c| c != 0),
        b.iter().rposition(|&c| c != 0),
    ) {
        (Some(first), Some(last)) => format!("{}+{}", first, last + 1 - first),
        _ => "none".to_string(),
    }
}

/// The facts as uapi.rs encodes them.
fn rust_facts() -> Facts {
    let mut f = Facts::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    let zero = Header { size: 0, flags: 0 };
    let size_only = Header {
        size: u32::MAX,
        flags: 0,
    };
    let flags_only = Header {
        size: 0,
        flags: u32::MAX,
    };

    // struct pvdisk_snapshot: each field alone, then all of them.
    let snap = |h: Header, s: Snapshot| {
        let mut b = [0u8; SNAPSHOT_SIZE];
        s.encode(h, &mut b);
        b
    };
    let none = Snapshot::default();
    let s = "pvdisk_snapshot";
    put(&format!("sizeof.{s}"), SNAPSHOT_SIZE.to_string());
    put(&format!("{s}.padding"), "0".into());
    put(&format!("{s}.size"), span(&snap(size_only, none)));
    put(&format!("{s}.flags"), span(&snap(flags_only, none)));
    let fields: [(&str, Snapshot); 6] = [
        (
            "label",
            Snapshot {
                label: [b'L'; uapi::LABEL_LEN],
                ..none
            },
        ),
        ("vdi_id", Snapshot { vdi_id: !0, ..none }),
        ("seq", Snapshot { seq: !0, ..none }),
        (
            "log_block",
            Snapshot {
                log_block: !0,
                ..none
            },
        ),
        (
            "log_index",
            Snapshot {
                log_index: !0,
                ..none
            },
        ),
        (
            "timestamp",
            Snapshot {
                timestamp: !0,
                ..none
            },
        ),
    ];
    for (name, v) in fields {
        put(&format!("{s}.{name}"), span(&snap(zero, v)));
    }
    let (h, v) = filled_snapshot();
    put(&format!("image.{s}"), hex(&snap(h, v)));

    // struct pvdisk_info.
    let info = |h: Header, i: Info| {
        let mut b = [0u8; INFO_SIZE];
        i.encode(h, &mut b);
        b
    };
    let none = Info::default();
    let s = "pvdisk_info";
    put(&format!("sizeof.{s}"), INFO_SIZE.to_string());
    put(&format!("{s}.padding"), "0".into());
    put(&format!("{s}.size"), span(&info(size_only, none)));
    put(&format!("{s}.flags"), span(&info(flags_only, none)));
    let fields: [(&str, Info); 7] = [
        ("info_flags", Info { flags: !0, ..none }),
        ("vdi_id", Info { vdi_id: !0, ..none }),
        (
            "disk_bytes",
            Info {
                disk_bytes: !0,
                ..none
            },
        ),
        (
            "snap_count",
            Info {
                snap_count: !0,
                ..none
            },
        ),
        (
            "snapshot",
            Info {
                snapshot: !0,
                ..none
            },
        ),
        (
            "store_uuid",
            Info {
                store_uuid: [0xff; uapi::UUID_LEN],
                ..none
            },
        ),
        (
            "name",
            Info {
                name: [b'N'; uapi::NAME_LEN],
                ..none
            },
        ),
    ];
    for (name, v) in fields {
        put(&format!("{s}.{name}"), span(&info(zero, v)));
    }
    let (h, v) = filled_info();
    put(&format!("image.{s}"), hex(&info(h, v)));

    // struct pvdisk_create.
    let create = |h: Header, c: Create| {
        let mut b = [0u8; CREATE_SIZE];
        c.encode(h, &mut b);
        b
    };
    let none = Create::default();
    let s = "pvdisk_create";
    put(&format!("sizeof.{s}"), CREATE_SIZE.to_string());
    put(&format!("{s}.padding"), "0".into());
    put(&format!("{s}.size"), span(&create(size_only, none)));
    put(&format!("{s}.flags"), span(&create(flags_only, none)));
    let fields: [(&str, Create); 4] = [
        ("bytes", Create { bytes: !0, ..none }),
        (
            "name",
            Create {
                name: [b'N'; uapi::NAME_LEN],
                ..none
            },
        ),
        (
            "from",
            Create {
                from: [b'F'; uapi::SPEC_LEN],
                ..none
            },
        ),
        ("vdi_id", Create { vdi_id: !0, ..none }),
    ];
    for (name, v) in fields {
        put(&format!("{s}.{name}"), span(&create(zero, v)));
    }
    let (h, v) = filled_create();
    put(&format!("image.{s}"), hex(&create(h, v)));

    // struct pvdisk_delete.
    let delete = |h: Header, d: Delete| {
        let mut b = [0u8; DELETE_SIZE];
        d.encode(h, &mut b);
        b
    };
    let none = Delete {
        target: [0; uapi::SPEC_LEN],
    };
    let s = "pvdisk_delete";
    put(&format!("sizeof.{s}"), DELETE_SIZE.to_string());
    put(&format!("{s}.padding"), "0".into());
    put(&format!("{s}.size"), span(&delete(size_only, none)));
    put(&format!("{s}.flags"), span(&delete(flags_only, none)));
    let target = Delete {
        target: [b'T'; uapi::SPEC_LEN],
    };
    put(&format!("{s}.target"), span(&delete(zero, target)));
    let (h, v) = filled_delete();
    put(&format!("image.{s}"), hex(&delete(h, v)));

    // struct pvdisk_label.
    let label = |h: Header, l: Label| {
        let mut b = [0u8; LABEL_SIZE];
        l.encode(h, &mut b);
        b
    };
    let none = Label {
        snapshot: [0; uapi::SPEC_LEN],
        label: [0; uapi::LABEL_LEN],
    };
    let s = "pvdisk_label";
    put(&format!("sizeof.{s}"), LABEL_SIZE.to_string());
    put(&format!("{s}.padding"), "0".into());
    put(&format!("{s}.size"), span(&label(size_only, none)));
    put(&format!("{s}.flags"), span(&label(flags_only, none)));
    let fields: [(&str, Label); 2] = [
        (
            "snapshot",
            Label {
                snapshot: [b'S'; uapi::SPEC_LEN],
                ..none
            },
        ),
        (
            "label",
            Label {
                label: [b'L'; uapi::LABEL_LEN],
                ..none
            },
        ),
    ];
    for (name, v) in fields {
        put(&format!("{s}.{name}"), span(&label(zero, v)));
    }
    let (h, v) = filled_label();
    put(&format!("image.{s}"), hex(&label(h, v)));

    // Constants and command numbers.
    put("PVDISK_IOC_MAGIC", uapi::PVDISK_IOC_MAGIC.to_string());
    put("PVDISK_LABEL_LEN", uapi::LABEL_LEN.to_string());
    put("PVDISK_NAME_LEN", uapi::NAME_LEN.to_string());
    put("PVDISK_UUID_LEN", uapi::UUID_LEN.to_string());
    put(
        "PVDISK_INFO_SNAPSHOT",
        uapi::PVDISK_INFO_SNAPSHOT.to_string(),
    );
    put("PVDISK_IOC_SNAPSHOT", uapi::PVDISK_IOC_SNAPSHOT.to_string());
    put("PVDISK_IOC_INFO", uapi::PVDISK_IOC_INFO.to_string());
    put("PVDISK_SPEC_LEN", uapi::SPEC_LEN.to_string());
    put("PVDISK_DELETE_FORCE", uapi::PVDISK_DELETE_FORCE.to_string());
    put(
        "PVDISK_SNAPSHOT_LAZY",
        uapi::PVDISK_SNAPSHOT_LAZY.to_string(),
    );
    put("PVDISK_IOC_CREATE", uapi::PVDISK_IOC_CREATE.to_string());
    put("PVDISK_IOC_DELETE", uapi::PVDISK_IOC_DELETE.to_string());
    put("PVDISK_IOC_LABEL", uapi::PVDISK_IOC_LABEL.to_string());
    f
}

/// The C program that prints the same facts from the header.
fn c_program() -> String {
    let (sh, s) = filled_snapshot();
    let (ih, i) = filled_info();
    let (ch, c) = filled_create();
    let (dh, d) = filled_delete();
    let (lh, l) = filled_label();
    let c_bytes = |b: &[u8]| {
        b.iter()
            .map(|c| format!("0x{:02x}", c))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/pvdisk.h>

static size_t covered;

#define FIELD(s, f) do {{ \
	printf(#s "." #f " %zu+%zu\n", offsetof(struct s, f), \
	       sizeof(((struct s *)0)->f)); \
	covered += sizeof(((struct s *)0)->f); \
}} while (0)

static void dump(const char *what, const void *p, size_t n)
{{
	const unsigned char *b = p;
	size_t i;

	printf("image.%s ", what);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}}

int main(void)
{{
	static const unsigned char label[] = {{ {label} }};
	static const unsigned char name[] = {{ {name} }};
	static const unsigned char uuid[] = {{ {uuid} }};
	struct pvdisk_snapshot s;
	struct pvdisk_info in;
	static const unsigned char c_name[] = {{ {c_name} }};
	static const unsigned char c_from[] = {{ {c_from} }};
	static const unsigned char d_target[] = {{ {d_target} }};
	static const unsigned char l_snapshot[] = {{ {l_snapshot} }};
	static const unsigned char l_label[] = {{ {l_label} }};
	struct pvdisk_create cr;
	struct pvdisk_delete de;
	struct pvdisk_label la;

	printf("sizeof.pvdisk_snapshot %zu\n", sizeof(struct pvdisk_snapshot));
	covered = 0;
	FIELD(pvdisk_snapshot, size);
	FIELD(pvdisk_snapshot, flags);
	FIELD(pvdisk_snapshot, label);
	FIELD(pvdisk_snapshot, vdi_id);
	FIELD(pvdisk_snapshot, seq);
	FIELD(pvdisk_snapshot, log_block);
	FIELD(pvdisk_snapshot, log_index);
	FIELD(pvdisk_snapshot, reserved);
	FIELD(pvdisk_snapshot, timestamp);
	printf("pvdisk_snapshot.padding %zu\n",
	       sizeof(struct pvdisk_snapshot) - covered);

	printf("sizeof.pvdisk_info %zu\n", sizeof(struct pvdisk_info));
	covered = 0;
	FIELD(pvdisk_info, size);
	FIELD(pvdisk_info, flags);
	FIELD(pvdisk_info, info_flags);
	FIELD(pvdisk_info, reserved);
	FIELD(pvdisk_info, vdi_id);
	FIELD(pvdisk_info, disk_bytes);
	FIELD(pvdisk_info, snap_count);
	FIELD(pvdisk_info, snapshot);
	FIELD(pvdisk_info, store_uuid);
	FIELD(pvdisk_info, name);
	printf("pvdisk_info.padding %zu\n", sizeof(struct pvdisk_info) - covered);

	printf("sizeof.pvdisk_create %zu\n", sizeof(struct pvdisk_create));
	covered = 0;
	FIELD(pvdisk_create, size);
	FIELD(pvdisk_create, flags);
	FIELD(pvdisk_create, bytes);
	FIELD(pvdisk_create, name);
	FIELD(pvdisk_create, from);
	FIELD(pvdisk_create, vdi_id);
	printf("pvdisk_create.padding %zu\n",
	       sizeof(struct pvdisk_create) - covered);

	printf("sizeof.pvdisk_delete %zu\n", sizeof(struct pvdisk_delete));
	covered = 0;
	FIELD(pvdisk_delete, size);
	FIELD(pvdisk_delete, flags);
	FIELD(pvdisk_delete, target);
	printf("pvdisk_delete.padding %zu\n",
	       sizeof(struct pvdisk_delete) - covered);

	printf("sizeof.pvdisk_label %zu\n", sizeof(struct pvdisk_label));
	covered = 0;
	FIELD(pvdisk_label, size);
	FIELD(pvdisk_label, flags);
	FIELD(pvdisk_label, snapshot);
	FIELD(pvdisk_label, label);
	printf("pvdisk_label.padding %zu\n",
	       sizeof(struct pvdisk_label) - covered);

	/* Filled field by field; the reserved words stay 0, as the driver
	 * leaves them. */
	memset(&s, 0, sizeof(s));
	s.size = {s_size}u;
	s.flags = {s_flags}u;
	memcpy(s.label, label, sizeof(s.label));
	s.vdi_id = {s_vdi}ull;
	s.seq = {s_seq}ull;
	s.log_block = {s_block}ull;
	s.log_index = {s_index}u;
	s.timestamp = {s_time}ull;
	dump("pvdisk_snapshot", &s, sizeof(s));

	memset(&in, 0, sizeof(in));
	in.size = {i_size}u;
	in.flags = {i_flags}u;
	in.info_flags = {i_info_flags}u;
	in.vdi_id = {i_vdi}ull;
	in.disk_bytes = {i_bytes}ull;
	in.snap_count = {i_count}ull;
	in.snapshot = {i_snapshot}ull;
	memcpy(in.store_uuid, uuid, sizeof(in.store_uuid));
	memcpy(in.name, name, sizeof(in.name));
	dump("pvdisk_info", &in, sizeof(in));

	memset(&cr, 0, sizeof(cr));
	cr.size = {c_size}u;
	cr.flags = {c_flags}u;
	cr.bytes = {c_bytes_}ull;
	memcpy(cr.name, c_name, sizeof(cr.name));
	memcpy(cr.from, c_from, sizeof(cr.from));
	cr.vdi_id = {c_vdi}ull;
	dump("pvdisk_create", &cr, sizeof(cr));

	memset(&de, 0, sizeof(de));
	de.size = {d_size}u;
	de.flags = {d_flags}u;
	memcpy(de.target, d_target, sizeof(de.target));
	dump("pvdisk_delete", &de, sizeof(de));

	memset(&la, 0, sizeof(la));
	la.size = {l_size}u;
	la.flags = {l_flags}u;
	memcpy(la.snapshot, l_snapshot, sizeof(la.snapshot));
	memcpy(la.label, l_label, sizeof(la.label));
	dump("pvdisk_label", &la, sizeof(la));

	printf("PVDISK_IOC_MAGIC %u\n", (unsigned)PVDISK_IOC_MAGIC);
	printf("PVDISK_LABEL_LEN %u\n", (unsigned)PVDISK_LABEL_LEN);
	printf("PVDISK_NAME_LEN %u\n", (unsigned)PVDISK_NAME_LEN);
	printf("PVDISK_UUID_LEN %u\n", (unsigned)PVDISK_UUID_LEN);
	printf("PVDISK_INFO_SNAPSHOT %u\n", (unsigned)PVDISK_INFO_SNAPSHOT);
	printf("PVDISK_IOC_SNAPSHOT %lu\n", (unsigned long)PVDISK_IOC_SNAPSHOT);
	printf("PVDISK_IOC_INFO %lu\n", (unsigned long)PVDISK_IOC_INFO);
	printf("PVDISK_SPEC_LEN %u\n", (unsigned)PVDISK_SPEC_LEN);
	printf("PVDISK_DELETE_FORCE %u\n", (unsigned)PVDISK_DELETE_FORCE);
	printf("PVDISK_SNAPSHOT_LAZY %u\n", (unsigned)PVDISK_SNAPSHOT_LAZY);
	printf("PVDISK_IOC_CREATE %lu\n", (unsigned long)PVDISK_IOC_CREATE);
	printf("PVDISK_IOC_DELETE %lu\n", (unsigned long)PVDISK_IOC_DELETE);
	printf("PVDISK_IOC_LABEL %lu\n", (unsigned long)PVDISK_IOC_LABEL);
	return 0;
}}
"#,
        label = c_bytes(&s.label),
        name = c_bytes(&i.name),
        uuid = c_bytes(&i.store_uuid),
        s_size = sh.size,
        s_flags = sh.flags,
        s_vdi = s.vdi_id,
        s_seq = s.seq,
        s_block = s.log_block,
        s_index = s.log_index,
        s_time = s.timestamp,
        i_size = ih.size,
        i_flags = ih.flags,
        i_info_flags = i.flags,
        i_vdi = i.vdi_id,
        i_bytes = i.disk_bytes,
        i_count = i.snap_count,
        i_snapshot = i.snapshot,
        c_name = c_bytes(&c.name),
        c_from = c_bytes(&c.from),
        d_target = c_bytes(&d.target),
        l_snapshot = c_bytes(&l.snapshot),
        l_label = c_bytes(&l.label),
        c_size = ch.size,
        c_flags = ch.flags,
        c_bytes_ = c.bytes,
        c_vdi = c.vdi_id,
        d_size = dh.size,
        d_flags = dh.flags,
        l_size = lh.size,
        l_flags = lh.flags,
    )
}

/// Where the C facts come from, or why there are none on this host.
enum CSide {
    Facts(Facts),
    Skip(String),
}

/// Builds and runs the C program against the header.
fn c_facts() -> CSide {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let include = repo.join("include/uapi");
    let dir = TempDir::new("uapi-layout");
    let src = dir.file("layout.c");
    let exe = dir.file("layout");
    std::fs::write(&src, c_program()).expect("write layout.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = match Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .output()
    {
        Ok(o) => o,
        Err(e) => return CSide::Skip(format!("no C compiler ({cc}: {e})")),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if err.contains("linux/ioctl.h") || err.contains("linux/types.h") {
            return CSide::Skip(format!("no kernel uapi headers for {cc}: {err}"));
        }
        panic!("{cc} could not build the layout program against the header:\n{err}");
    }
    let run = Command::new(&exe).output().expect("run the layout program");
    assert!(run.status.success(), "layout program failed");
    let text = String::from_utf8(run.stdout).expect("layout output is UTF-8");
    let mut f = Facts::new();
    for line in text.lines() {
        let (k, v) = line.split_once(' ').expect("'key value' lines");
        f.insert(k.to_string(), v.to_string());
    }
    CSide::Facts(f)
}

/// Every way the two sides differ, one sentence each. A `reserved` field
/// exists only in C: uapi.rs writes zeros there, which the images show.
fn differences(c: &Facts, rust: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    for (k, cv) in c {
        match rust.get(k) {
            None if k.ends_with(".reserved") => {}
            None => out.push(format!("{k}: the header has it ({cv}), uapi.rs does not")),
            Some(rv) if rv != cv => out.push(format!("{k}: header {cv}, uapi.rs {rv}")),
            Some(_) => {}
        }
    }
    for (k, rv) in rust {
        if !c.contains_key(k) {
            out.push(format!("{k}: uapi.rs has it ({rv}), the header does not"));
        }
    }
    out
}

#[test]
fn header_and_uapi_rs_agree() {
    let c = match c_facts() {
        CSide::Facts(f) => f,
        CSide::Skip(why) => {
            eprintln!("uapi layout: skipped: {why}");
            return;
        }
    };
    let rust = rust_facts();
    let diffs = differences(&c, &rust);
    assert!(
        diffs.is_empty(),
        "include/uapi/linux/pvdisk.h and uapi.rs differ:\n  {}",
        diffs.join("\n  ")
    );
    // Every field checked, reserved ones included.
    assert_eq!(c.keys().filter(|k| k.contains('.')).count(), 47);

    // uapi.rs reads what C wrote.
    let image = |k: &str| unhex(&c[k]);
    let b: [u8; SNAPSHOT_SIZE] = image("image.pvdisk_snapshot").try_into().unwrap();
    let (h, s) = filled_snapshot();
    assert_eq!(Header::decode(&b), h);
    assert_eq!(Snapshot::decode(&b), s);
    let b: [u8; INFO_SIZE] = image("image.pvdisk_info").try_into().unwrap();
    let (h, i) = filled_info();
    assert_eq!(Header::decode(&b), h);
    assert_eq!(Info::decode(&b), i);
    let b: [u8; CREATE_SIZE] = image("image.pvdisk_create").try_into().unwrap();
    let (h, v) = filled_create();
    assert_eq!(Header::decode(&b), h);
    assert_eq!(Create::decode(&b), v);
    let b: [u8; DELETE_SIZE] = image("image.pvdisk_delete").try_into().unwrap();
    let (h, v) = filled_delete();
    assert_eq!(Header::decode(&b), h);
    assert_eq!(Delete::decode(&b), v);
    let b: [u8; LABEL_SIZE] = image("image.pvdisk_label").try_into().unwrap();
    let (h, v) = filled_label();
    assert_eq!(Header::decode(&b), h);
    assert_eq!(Label::decode(&b), v);
    // The command numbers name their commands.
    let cmd = |k: &str| c[k].parse::<u32>().unwrap();
    assert_eq!(
        uapi::Command::of(cmd("PVDISK_IOC_SNAPSHOT")),
        Some(uapi::Command::Snapshot)
    );
    assert_eq!(
        uapi::Command::of(cmd("PVDISK_IOC_INFO")),
        Some(uapi::Command::Info)
    );
    for (k, want) in [
        ("PVDISK_IOC_CREATE", uapi::Command::Create),
        ("PVDISK_IOC_DELETE", uapi::Command::Delete),
        ("PVDISK_IOC_LABEL", uapi::Command::Label),
    ] {
        assert_eq!(uapi::Command::of(cmd(k)), Some(want), "{k}");
        let sizeof = format!("sizeof.pvdisk_{}", k["PVDISK_IOC_".len()..].to_lowercase());
        assert_eq!(want.struct_size().to_string(), c[&sizeof], "{k}");
    }
}

/// The comparison can fail: a header whose `seq` moved, whose struct
/// grew padding, or that lost a field is caught, each by name. Runs
/// without a C compiler, on uapi.rs's own facts, altered as a changed
/// header would print them. (Swapping `seq` and `log_block` in a copy of
/// pvdisk.h, given to the real test through a `CC` wrapper that points
/// `-I` at it, makes it report `pvdisk_snapshot.log_block: header 56+8,
/// uapi.rs 64+8`, `pvdisk_snapshot.seq: header 64+8, uapi.rs 56+8` and
/// the snapshot image; swapping `name` and `from` in `pvdisk_create`
/// and making `PVDISK_IOC_DELETE` an `_IOWR` reports
/// `pvdisk_create.from: header 16+112, uapi.rs 80+112`, the same for
/// `name`, the create image and `PVDISK_IOC_DELETE: header 3229144836,
/// uapi.rs 1081661188`.)
#[test]
fn the_comparison_catches_a_changed_layout() {
    let rust = rust_facts();
    assert_eq!(rust["pvdisk_snapshot.seq"], "56+8");
    assert!(differences(&rust, &rust).is_empty());

    let mut moved = rust.clone();
    moved.insert("pvdisk_snapshot.seq".into(), "64+8".into());
    assert_eq!(
        differences(&moved, &rust),
        ["pvdisk_snapshot.seq: header 64+8, uapi.rs 56+8"]
    );

    let mut padded = rust.clone();
    padded.insert("pvdisk_info.padding".into(), "4".into());
    padded.insert("sizeof.pvdisk_info".into(), "132".into());
    assert_eq!(differences(&padded, &rust).len(), 2);

    let mut lost = rust.clone();
    lost.remove("pvdisk_info.name");
    lost.insert("pvdisk_info.reserved".into(), "12+4".into());
    let d = differences(&lost, &rust);
    assert_eq!(
        d,
        ["pvdisk_info.name: uapi.rs has it (64+64), the header does not"]
    );

    // A changed command number (another type byte).
    let mut renumbered = rust.clone();
    renumbered.insert(
        "PVDISK_IOC_INFO".into(),
        (uapi::PVDISK_IOC_INFO ^ 0x100).to_string(),
    );
    assert_eq!(differences(&renumbered, &rust).len(), 1);

    // The live-management structs: a field moved, a direction changed, a
    // struct that grew, a constant that changed.
    assert_eq!(rust["pvdisk_create.from"], "80+112");
    assert_eq!(rust["pvdisk_label.label"], "120+40");
    assert_eq!(rust["pvdisk_delete.target"], "8+112");
    let mut swapped = rust.clone();
    swapped.insert("pvdisk_create.from".into(), "16+112".into());
    swapped.insert("pvdisk_create.name".into(), "128+64".into());
    assert_eq!(
        differences(&swapped, &rust),
        [
            "pvdisk_create.from: header 16+112, uapi.rs 80+112",
            "pvdisk_create.name: header 128+64, uapi.rs 16+64"
        ]
    );
    let mut iowr = rust.clone();
    iowr.insert(
        "PVDISK_IOC_DELETE".into(),
        (uapi::PVDISK_IOC_DELETE | 2 << 30).to_string(),
    );
    assert_eq!(
        differences(&iowr, &rust),
        ["PVDISK_IOC_DELETE: header 3229144836, uapi.rs 1081661188"]
    );
    let mut grown = rust.clone();
    grown.insert("sizeof.pvdisk_label".into(), "168".into());
    grown.insert("pvdisk_label.reserved".into(), "160+8".into());
    assert_eq!(
        differences(&grown, &rust),
        ["sizeof.pvdisk_label: header 168, uapi.rs 160"]
    );
    let mut force = rust.clone();
    force.insert("PVDISK_DELETE_FORCE".into(), "2".into());
    assert_eq!(differences(&force, &rust).len(), 1);
}
