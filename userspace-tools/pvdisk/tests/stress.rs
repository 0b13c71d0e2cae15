// SPDX-License-Identifier: GPL-2.0

//! Concurrency stress: 4 processes' worth of `pvdisk` commands (create,
//! snapshot, clone, import, delete, label, gc; 200 each) run at once on one
//! store, each worker with its own VDIs and a model of them. Afterwards
//! check must be clean and every VDI and snapshot must export exactly as
//! its model. The second test does the same while killing random commands
//! with SIGKILL: after every kill check must find no corruption, and what
//! a killed command touched is left out of the model.

mod common;

use common::{pattern, sparse_file, Rng, TempDir};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WORKERS: usize = 4;
const COMMANDS: usize = 200;
/// Blocks of a VDI and of an image.
const BLOCKS: u64 = 16;

#[derive(Debug, Clone)]
struct Snap {
    label: String,
    content: u64,
}

#[derive(Debug, Clone)]
struct Vdi {
    name: String,
    /// Seed of the image it holds (0: never written, all zeros).
    content: u64,
    snaps: Vec<Snap>,
}

/// The image of `seed`: a few scattered non-zero blocks (0: all zeros).
fn image(seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; (BLOCKS * 4096) as usize];
    if seed == 0 {
        return out;
    }
    for (i, lba) in [0u64, 3, 4, 9 + seed % 7].iter().enumerate() {
        let at = (*lba * 4096) as usize;
        out[at..at + 4096].copy_from_slice(&pattern(seed * 10 + i as u64));
    }
    out
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    commands: usize,
    kills: usize,
    corruptions: usize,
}

enum Outcome {
    Done,
    Killed,
}

struct Worker {
    id: usize,
    store: String,
    dir: PathBuf,
    rng: Rng,
    vdis: Vec<Vdi>,
    next: u64,
    kill: bool,
    totals: Totals,
}

impl Worker {
    fn fresh(&mut self, what: &str) -> String {
        self.next += 1;
        format!("w{}{}{}", self.id, what, self.next)
    }

    /// Runs one command (with --wait); with `kill`, sometimes kills it.
    fn run(&mut self, args: &[&str]) -> Outcome {
        self.totals.commands += 1;
        let mut child = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
            .args(args)
            .arg("--wait")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if self.kill && self.rng.below(4) == 0 {
            std::thread::sleep(Duration::from_micros(self.rng.below(20_000)));
            if child.try_wait().unwrap().is_none() {
                let _ = child.kill();
            }
        }
        let o = child.wait_with_output().unwrap();
        if o.status.signal() == Some(9) {
            self.totals.kills += 1;
            let c = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
                .args(["check", &self.store, "--wait"])
                .output()
                .unwrap();
            if !c.status.success() {
                self.totals.corruptions += 1;
                eprintln!("after a kill: {}", String::from_utf8_lossy(&c.stdout));
            }
            return Outcome::Killed;
        }
        assert!(
            o.status.success(),
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&o.stderr)
        );
        Outcome::Done
    }

    /// One random command against this worker's VDIs.
    fn step(&mut self) {
        let s = self.store.clone();
        let n = self.vdis.len();
        let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
        let op = if n == 0 { 0 } else { self.rng.below(14) };
        match op {
            0 | 1 if n < 6 => {
                let name = self.fresh("v");
                if let Outcome::Done = self.run(&["create", &s, &name, "--size", "64K"]) {
                    self.vdis.push(Vdi {
                        name,
                        content: 0,
                        snaps: Vec::new(),
                    });
                }
            }
            2..=4 if n > 0 => {
                let i = pick(&mut self.rng, n);
                let seed = self.rng.below(1 << 30) + 1;
                let img = self.dir.join(format!("w{}.raw", self.id));
                std::fs::write(&img, image(seed)).unwrap();
                let name = self.vdis[i].name.clone();
                match self.run(&["import", &s, &name, img.to_str().unwrap()]) {
                    Outcome::Done => self.vdis[i].content = seed,
                    Outcome::Killed => {
                        self.vdis.remove(i);
                    }
                }
            }
            5..=7 if n > 0 => {
                let i = pick(&mut self.rng, n);
                let label = self.fresh("s");
                let name = self.vdis[i].name.clone();
                match self.run(&["snapshot", &s, &name, "--label", &label]) {
                    Outcome::Done => {
                        let content = self.vdis[i].content;
                        self.vdis[i].snaps.push(Snap { label, content });
                    }
                    Outcome::Killed => {
                        self.vdis.remove(i);
                    }
                }
            }
            8 | 9 if n > 0 && n < 8 => {
                let i = pick(&mut self.rng, n);
                if self.vdis[i].snaps.is_empty() {
                    return;
                }
                let j = pick(&mut self.rng, self.vdis[i].snaps.len());
                let snap = self.vdis[i].snaps[j].clone();
                let name = self.fresh("c");
                if let Outcome::Done = self.run(&["create", &s, &name, "--from", &snap.label]) {
                    self.vdis.push(Vdi {
                        name,
                        content: snap.content,
                        snaps: Vec::new(),
                    });
                }
            }
            10 if n > 0 => {
                let i = pick(&mut self.rng, n);
                let name = self.vdis.remove(i).name;
                self.run(&["delete", &s, &name, "--force"]);
            }
            11 if n > 0 => {
                let i = pick(&mut self.rng, n);
                if self.vdis[i].snaps.is_empty() {
                    return;
                }
                let j = pick(&mut self.rng, self.vdis[i].snaps.len());
                let old = self.vdis[i].snaps[j].label.clone();
                let label = self.fresh("s");
                match self.run(&["label", &s, &old, &label]) {
                    Outcome::Done => self.vdis[i].snaps[j].label = label,
                    Outcome::Killed => {
                        self.vdis.remove(i);
                    }
                }
            }
            12 => {
                self.run(&["gc", &s]);
            }
            _ => {
                if n > 0 {
                    let i = pick(&mut self.rng, n);
                    if let Some(j) = (!self.vdis[i].snaps.is_empty())
                        .then(|| pick(&mut self.rng, self.vdis[i].snaps.len()))
                    {
                        let label = self.vdis[i].snaps.remove(j).label;
                        if let Outcome::Killed = self.run(&["delete", &s, &label]) {
                            self.vdis.remove(i);
                        }
                    }
                }
            }
        }
    }
}

/// Exports `what` and compares it with the image of `seed`.
fn assert_exports_as(store: &str, dir: &Path, what: &str, seed: u64) {
    let out = dir.join("check.raw");
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(["export", store, what, out.to_str().unwrap(), "--force"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(&out).unwrap() == image(seed),
        "{} differs from its model",
        what
    );
}

fn stress(kill: bool) -> Totals {
    let dir = TempDir::new(if kill { "stress-kill" } else { "stress" });
    let store = dir.file("s.img");
    sparse_file(&store, 256 << 20);
    let s = store.to_str().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(["format", &s, "--extent-size", "1M"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let mut w = Worker {
                id,
                store: s.clone(),
                dir: dir.path().to_path_buf(),
                rng: Rng(0x5eed + id as u64 * 7919 + u64::from(kill)),
                vdis: Vec::new(),
                next: 0,
                kill,
                totals: Totals::default(),
            };
            std::thread::spawn(move || {
                while w.totals.commands < COMMANDS {
                    w.step();
                }
                w
            })
        })
        .collect();
    let mut totals = Totals::default();
    let mut models = Vec::new();
    for h in workers {
        let w = h.join().unwrap();
        totals.commands += w.totals.commands;
        totals.kills += w.totals.kills;
        totals.corruptions += w.totals.corruptions;
        models.push(w.vdis);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_pvdisk"))
        .args(["check", &s])
        .output()
        .unwrap();
    if !o.status.success() {
        totals.corruptions += 1;
    }
    let mut compared = 0;
    for v in models.iter().flatten() {
        assert_exports_as(&s, dir.path(), &v.name, v.content);
        for snap in &v.snaps {
            assert_exports_as(&s, dir.path(), &snap.label, snap.content);
        }
        compared += 1;
    }
    eprintln!(
        "stress{}: {} processes x {} commands = {} commands, {} killed, {} corruptions, {} VDIs compared",
        if kill { " with SIGKILL" } else { "" },
        WORKERS,
        COMMANDS,
        totals.commands,
        totals.kills,
        totals.corruptions,
        compared
    );
    assert_eq!(
        totals.corruptions,
        0,
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    totals
}

#[test]
fn four_processes_mixed_commands() {
    let t = stress(false);
    assert_eq!(t.commands, WORKERS * COMMANDS);
}

#[test]
fn four_processes_mixed_commands_with_sigkill() {
    let t = stress(true);
    assert!(t.kills > 0);
}
