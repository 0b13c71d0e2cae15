// SPDX-License-Identifier: GPL-2.0

//! `pvdisk-replay`: replays a dm-log-writes log of a pvdisk store and
//! judges every crash state (see the library's documentation).
//!
//! ```text
//! pvdisk-replay run --log LOG --journal FILE --image FILE --size BYTES
//!                   [--start-mark NAME] [--seed N] [--subsets N]
//!                   [--faults N [--faults-only]]
//!                   [--final] [--max-report N] [--verbose] [--stop-after ENTRY]
//!                   [--compare DEV] [--log-order]
//! pvdisk-replay dump --log LOG
//! pvdisk-replay verify --journal FILE [--marks] VDI IMAGE
//! pvdisk-replay judge --journal FILE STORE
//! ```
//!
//! `verify` judges one VDI's image (a `pvdisk export`, or its disk) with
//! every acknowledged write durable, or with `--marks` only what the
//! journal's marks say is (a killed machine). `judge` judges a store as a
//! killed machine left it: check, and every VDI of the journal with the
//! floors of its marks. Both read a journal that may end in a record cut
//! short by the kill (it ends at its first NUL byte and last newline).
//!
//! Exit status: 0 when every point passed, 1 when one did not (with
//! `--faults`, when a planted fault was caught, as it should be) or on an
//! error, 2 on bad usage.

use pvdisk_replay::journal::{Floors, Journal};
use pvdisk_replay::log::{self, Kind};
use pvdisk_replay::replay::{judge_store, verify_image, Options, Replay};
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: pvdisk-replay run --log LOG --journal FILE --image FILE --size BYTES
                         [--start-mark NAME] [--seed N] [--subsets N]
                         [--faults N [--faults-only]]
                         [--final] [--max-report N] [--verbose] [--stop-after ENTRY] [--compare DEV]
                         [--log-order]
       pvdisk-replay dump --log LOG
       pvdisk-replay verify --journal FILE [--marks] VDI IMAGE
       pvdisk-replay judge --journal FILE STORE";

enum Fail {
    Usage(String),
    Error(String),
}

fn usage(s: impl Into<String>) -> Fail {
    Fail::Usage(s.into())
}

/// Options and positional arguments.
struct Args {
    opts: Vec<(String, Option<String>)>,
    pos: Vec<String>,
}

const FLAGS: &[&str] = &["faults-only", "final", "verbose", "log-order", "marks"];

fn parse(args: &[String]) -> Result<Args, Fail> {
    let mut a = Args {
        opts: Vec::new(),
        pos: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        if let Some(name) = x.strip_prefix("--") {
            if FLAGS.contains(&name) {
                a.opts.push((name.to_string(), None));
            } else {
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("--{} needs a value", name)))?;
                a.opts.push((name.to_string(), Some(v.clone())));
            }
        } else {
            a.pos.push(x.clone());
        }
    }
    Ok(a)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
    fn need(&self, name: &str) -> Result<&str, Fail> {
        self.get(name)
            .ok_or_else(|| usage(format!("--{} is required", name)))
    }
    fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Fail> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| usage(format!("--{}: bad number '{}'", name, v))),
        }
    }
    fn only(&self, allowed: &[&str], npos: usize) -> Result<(), Fail> {
        if let Some((n, _)) = self
            .opts
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            return Err(usage(format!("unknown option --{}", n)));
        }
        if self.pos.len() != npos {
            return Err(usage(format!("{} arguments expected", npos)));
        }
        Ok(())
    }
}

fn open_log(path: &str) -> Result<(File, log::Log), Fail> {
    let f = File::open(path).map_err(|e| Fail::Error(format!("{}: {}", path, e)))?;
    let l = log::parse(&f).map_err(|e| Fail::Error(format!("{}: {}", path, e)))?;
    Ok((f, l))
}

fn read_journal(path: &str) -> Result<Journal, Fail> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Fail::Error(format!("{}: {}", path, e)))?;
    Journal::parse(&text).map_err(|e| Fail::Error(format!("{}: {}", path, e)))
}

/// A journal that a kill may have cut: up to its first NUL byte and its
/// last newline.
fn read_cut_journal(path: &str) -> Result<Journal, Fail> {
    let bytes = std::fs::read(path).map_err(|e| Fail::Error(format!("{}: {}", path, e)))?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    Journal::parse_cut(&text).map_err(|e| Fail::Error(format!("{}: {}", path, e)))
}

/// What the journal knows: its marks and acknowledged operations.
fn journal_line(j: &Journal) -> String {
    let ops: usize = j.vdis.iter().map(|v| v.ops.len()).sum();
    let acked: usize = j
        .vdis
        .iter()
        .map(|v| v.ops.iter().filter(|o| o.ack.is_some()).count())
        .sum();
    format!(
        "journal: {} VDIs, {} operations, {} acknowledged, {} marks{}",
        j.vdis.len(),
        ops,
        acked,
        j.marks.len(),
        if j.complete { ", complete" } else { "" }
    )
}

fn run(a: &Args) -> Result<u8, Fail> {
    a.only(
        &[
            "log",
            "journal",
            "image",
            "size",
            "start-mark",
            "seed",
            "subsets",
            "faults",
            "faults-only",
            "final",
            "max-report",
            "verbose",
            "stop-after",
            "compare",
            "log-order",
        ],
        0,
    )?;
    let (f, l) = open_log(a.need("log")?)?;
    let j = read_journal(a.need("journal")?)?;
    if !j.complete {
        eprintln!("pvdisk-replay: warning: the journal has no 'end': the workload did not finish");
    }
    let opts = Options {
        start_mark: a.get("start-mark").map(str::to_string),
        subsets: a.num("subsets", 2)?,
        seed: a.num("seed", 1)?,
        faults: a.num("faults", 0)?,
        faults_only: a.flag("faults-only"),
        final_check: a.flag("final"),
        max_report: a.num("max-report", 5)?,
        verbose: a.flag("verbose"),
        stop_after: a
            .get("stop-after")
            .map(|_| a.num("stop-after", 0))
            .transpose()?,
        compare: a.get("compare").map(std::path::PathBuf::from),
        log_order: a.flag("log-order"),
    };
    let size: u64 = a.num("size", 0)?;
    if size == 0 {
        return Err(usage("--size is required"));
    }
    let mut out = std::io::stdout();
    let mut r = Replay::new(
        &l,
        &f,
        &j,
        Path::new(a.need("image")?),
        size,
        opts,
        &mut out,
    )
    .map_err(Fail::Error)?;
    r.run().map_err(Fail::Error)?;
    let s = &r.stats;
    Ok(if s.bad_points > 0 || s.faults_caught > 0 {
        1
    } else {
        0
    })
}

fn dump(a: &Args) -> Result<u8, Fail> {
    a.only(&["log"], 0)?;
    let (_, l) = open_log(a.need("log")?)?;
    println!("sector size {}, {} entries", l.sectorsize, l.entries.len());
    for e in &l.entries {
        let what = match &e.kind {
            Kind::Write => "write".to_string(),
            Kind::Discard => "discard".to_string(),
            Kind::Flush => "flush".to_string(),
            Kind::Mark(m) => format!("mark {}", m),
        };
        println!(
            "{:6} {:10} byte {:>12} len {:>8} flags {:#x}",
            e.index, what, e.offset, e.len, e.flags
        );
    }
    Ok(0)
}

fn verify(a: &Args) -> Result<u8, Fail> {
    a.only(&["journal", "marks"], 2)?;
    let marks = a.flag("marks");
    let j = if marks {
        read_cut_journal(a.need("journal")?)?
    } else {
        read_journal(a.need("journal")?)?
    };
    let floors = if marks {
        Floors::all_marks(&j)
    } else {
        Floors::all_acked(&j)
    };
    let p = verify_image(&j, &a.pos[0], Path::new(&a.pos[1]), &floors).map_err(Fail::Error)?;
    for x in p.iter().take(10) {
        println!("mismatch: {}", x);
    }
    let blocks = j
        .vdis
        .iter()
        .find(|v| v.name == a.pos[0])
        .map_or(0, |v| v.blocks);
    println!(
        "verify: {}: blocks compared {}, mismatches {}",
        a.pos[1],
        blocks,
        p.len()
    );
    Ok(if p.is_empty() { 0 } else { 1 })
}

fn judge(a: &Args) -> Result<u8, Fail> {
    a.only(&["journal"], 1)?;
    let j = read_cut_journal(a.need("journal")?)?;
    println!("{}", journal_line(&j));
    let v = judge_store(&j, Path::new(&a.pos[0]), &Floors::all_marks(&j)).map_err(Fail::Error)?;
    for x in v.problems.iter().take(10) {
        println!("problem: {}", x);
    }
    println!(
        "judge: {}: blocks {}; problems {} (check {}, unwritten {}, lost {}, wrong {})",
        a.pos[0],
        v.blocks,
        v.problems.len(),
        v.check,
        v.unwritten,
        v.lost,
        v.wrong
    );
    Ok(if v.problems.is_empty() { 0 } else { 1 })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let r = match argv.split_first() {
        Some((cmd, rest)) => parse(rest).and_then(|a| match cmd.as_str() {
            "run" => run(&a),
            "dump" => dump(&a),
            "verify" => verify(&a),
            "judge" => judge(&a),
            _ => Err(usage(format!("unknown command '{}'", cmd))),
        }),
        None => Err(usage("no command")),
    };
    match r {
        Ok(c) => ExitCode::from(c),
        Err(Fail::Usage(s)) => {
            eprintln!("pvdisk-replay: {}\n{}", s, USAGE);
            ExitCode::from(2)
        }
        Err(Fail::Error(s)) => {
            eprintln!("pvdisk-replay: {}", s);
            ExitCode::from(1)
        }
    }
}
