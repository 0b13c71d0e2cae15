// SPDX-License-Identifier: GPL-2.0

//! The `pvdisk` command: formats, inspects, snapshots, checks and
//! garbage-collects pvdisk stores offline.
//!
//! Exit status: 0 success, 1 failed operation or corrupt store, 2 bad usage.

use pvdisk::args::ArgError;
use std::process::ExitCode;

mod cmd;

fn main() -> ExitCode {
    let mut args: Vec<String> = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(raw) => {
                eprintln!(
                    "pvdisk: argument {} ('{}') is not valid UTF-8; pvdisk takes only UTF-8 names and paths",
                    i + 1,
                    raw.to_string_lossy()
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(name) = args.first() else {
        eprint!("{}", cmd::overview());
        return ExitCode::from(2);
    };
    if name == "-h" || name == "--help" || name == "help" {
        print!("{}", cmd::overview());
        return ExitCode::SUCCESS;
    }
    if name == "--version" || name == "-V" {
        println!("pvdisk {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some(c) = cmd::find(name) else {
        eprintln!("pvdisk: unknown command '{}'; try 'pvdisk --help'", name);
        return ExitCode::from(2);
    };
    let parsed = match c.spec.parse(&args[1..]) {
        Ok(p) => p,
        Err(ArgError::Help) => {
            print!("{}", c.spec.help());
            return ExitCode::SUCCESS;
        }
        Err(ArgError::Usage(msg)) => {
            eprintln!("pvdisk {}: {}", name, msg);
            eprintln!("Try 'pvdisk {} --help'.", name);
            return ExitCode::from(2);
        }
    };
    match (c.run)(&parsed) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pvdisk {}: {}", name, e);
            if matches!(e, pvdisk::Error::Usage(_)) {
                eprintln!("Try 'pvdisk {} --help'.", name);
            }
            ExitCode::from(e.exit_code())
        }
    }
}
