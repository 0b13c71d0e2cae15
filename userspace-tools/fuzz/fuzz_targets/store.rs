// SPDX-License-Identifier: GPL-2.0

//! Fuzz a whole small store: the input overwrites parts of a valid store
//! image (as (block, offset, bytes) patches); opening it, listing it and
//! running check must never panic, and gc must either refuse or leave a
//! store that checks clean.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pvdisk::check::check;
use pvdisk::gc::gc;
use pvdisk::progress::Progress;
use pvdisk::Store;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::OnceLock;

fn template() -> &'static Vec<u8> {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let p = scratch("template");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(8 << 20).unwrap();
        drop(f);
        let mut s = Store::format(&p, Some(1 << 20), true).unwrap();
        s.set_durable(false);
        let v = s.create_vdi("v", 600 * 4096).unwrap();
        for lba in [0u64, 3, 511] {
            s.vdi_write(v, lba, &[(lba as u8).wrapping_add(1); 4096])
                .unwrap();
        }
        s.flush().unwrap();
        s.snapshot(v, "a").unwrap();
        s.vdi_write(v, 3, &[9; 4096]).unwrap();
        s.flush().unwrap();
        s.clone_snapshot(pvdisk::snapshot::SnapRef { slot: v, seq: 1 }, "c", None)
            .unwrap();
        drop(s);
        std::fs::read(&p).unwrap()
    })
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pvdisk-fuzz-{}-{}", tag, std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let t = template();
    let p = scratch("store");
    std::fs::write(&p, t).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    // Patches: 2 bytes block (within the first 600 blocks), 2 bytes
    // offset, 1 byte length, then the bytes.
    let mut rest = data;
    while rest.len() >= 5 {
        let blk = u64::from(u16::from_le_bytes([rest[0], rest[1]])) % 600;
        let off = u64::from(u16::from_le_bytes([rest[2], rest[3]])) % 4096;
        let len = usize::from(rest[4]).min(rest.len() - 5);
        let bytes = &rest[5..5 + len];
        f.write_all_at(bytes, blk * 4096 + off).unwrap();
        rest = &rest[5 + len..];
    }
    drop(f);
    if let Ok(mut s) = Store::open(&p, true) {
        s.set_durable(false);
        let _ = pvdisk::tree::forest(&s);
        if let Ok(r) = check(&mut s, &mut Progress::silent()) {
            if r.clean() && gc(&mut s, &mut Progress::silent()).is_ok() {
                drop(s);
                let mut s = Store::open(&p, false).unwrap();
                let r = check(&mut s, &mut Progress::silent()).unwrap();
                assert!(r.clean(), "{:?}", r.corrupt);
                assert!(r.leaks.is_empty());
            }
        }
    }
});
