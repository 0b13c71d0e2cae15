// SPDX-License-Identifier: GPL-2.0

//! A small argument parser: positional arguments, `--opt VALUE`,
//! `--opt=VALUE`, `--flag`, `--` and `-h`/`--help`.

use std::collections::HashMap;

/// One subcommand's grammar.
#[derive(Debug)]
pub struct Spec {
    /// Subcommand name.
    pub name: &'static str,
    /// Usage line after "pvdisk NAME".
    pub usage: &'static str,
    /// One-line summary.
    pub about: &'static str,
    /// Required positional argument names.
    pub positional: &'static [&'static str],
    /// Optional positional arguments after the required ones.
    pub optional: &'static [&'static str],
    /// Options: (name without dashes, takes a value, help).
    pub options: &'static [(&'static str, bool, &'static str)],
}

/// Parsed arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    /// Options given; flags map to `None`.
    pub options: HashMap<String, Option<String>>,
}

impl Parsed {
    /// Value of an option that takes one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(|v| v.as_deref())
    }
    /// True if a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
    /// Positional argument `i` (the parser guarantees the required ones).
    pub fn pos(&self, i: usize) -> &str {
        self.positional.get(i).map(String::as_str).unwrap_or("")
    }
}

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    /// `--help` was asked for.
    Help,
    /// Bad usage, with a sentence saying what.
    Usage(String),
}

impl Spec {
    /// The help text.
    pub fn help(&self) -> String {
        let mut s = format!(
            "{}\n\nUsage: pvdisk {} {}\n",
            self.about, self.name, self.usage
        );
        if !self.options.is_empty() {
            s.push_str("\nOptions:\n");
            for (name, value, help) in self.options {
                let left = if *value {
                    format!("--{} {}", name, name.to_uppercase())
                } else {
                    format!("--{}", name)
                };
                s.push_str(&format!("  {:<22} {}\n", left, help));
            }
        }
        s.push_str(&format!("  {:<22} {}\n", "-h, --help", "show this help"));
        s
    }

    /// Parses `args` (after the subcommand name).
    pub fn parse(&self, args: &[String]) -> Result<Parsed, ArgError> {
        let mut p = Parsed::default();
        let mut it = args.iter();
        let mut only_positional = false;
        while let Some(a) = it.next() {
            if only_positional || a == "-" || !a.starts_with('-') {
                p.positional.push(a.clone());
                continue;
            }
            if a == "--" {
                only_positional = true;
                continue;
            }
            if a == "-h" || a == "--help" {
                return Err(ArgError::Help);
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(ArgError::Usage(format!("unknown option '{}'", a)));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some((_, takes, _)) = self.options.iter().find(|(n, _, _)| *n == name) else {
                return Err(ArgError::Usage(format!(
                    "unknown option '--{}' for '{}'",
                    name, self.name
                )));
            };
            let value = if *takes {
                match inline {
                    Some(v) => Some(v),
                    None => match it.next() {
                        Some(v) => Some(v.clone()),
                        None => {
                            return Err(ArgError::Usage(format!(
                                "option '--{}' needs a value",
                                name
                            )))
                        }
                    },
                }
            } else {
                if inline.is_some() {
                    return Err(ArgError::Usage(format!(
                        "option '--{}' takes no value",
                        name
                    )));
                }
                None
            };
            if p.options.insert(name.to_string(), value).is_some() {
                return Err(ArgError::Usage(format!("option '--{}' given twice", name)));
            }
        }
        if p.positional.len() < self.positional.len() {
            return Err(ArgError::Usage(format!(
                "missing {} (usage: pvdisk {} {})",
                self.positional[p.positional.len()],
                self.name,
                self.usage
            )));
        }
        let max = self.positional.len() + self.optional.len();
        if p.positional.len() > max {
            return Err(ArgError::Usage(format!(
                "unexpected argument '{}' (usage: pvdisk {} {})",
                p.positional[max], self.name, self.usage
            )));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        name: "create",
        usage: "STORE NAME [--size SIZE] [--from SNAPSHOT]",
        about: "Create a VDI.",
        positional: &["STORE", "NAME"],
        optional: &[],
        options: &[
            ("size", true, "size"),
            ("from", true, "snapshot"),
            ("force", false, "override holds"),
        ],
    };

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn good() {
        let p = SPEC
            .parse(&v(&["s.img", "--size", "20G", "vm1", "--force"]))
            .unwrap();
        assert_eq!(p.positional, v(&["s.img", "vm1"]));
        assert_eq!(p.value("size"), Some("20G"));
        assert!(p.flag("force"));
        assert!(!p.flag("from"));
        let p = SPEC.parse(&v(&["s", "--from=a@1", "--", "--odd"])).unwrap();
        assert_eq!(p.value("from"), Some("a@1"));
        assert_eq!(p.pos(1), "--odd");
    }

    #[test]
    fn bad() {
        let cases: &[(&[&str], &str)] = &[
            (&["s"], "missing NAME"),
            (&["s", "n", "x"], "unexpected argument 'x'"),
            (&["s", "n", "--size"], "needs a value"),
            (&["s", "n", "--bogus"], "unknown option '--bogus'"),
            (&["s", "n", "-x"], "unknown option '-x'"),
            (&["s", "n", "--force=1"], "takes no value"),
            (&["s", "n", "--size", "1", "--size", "2"], "given twice"),
        ];
        for (args, msg) in cases {
            match SPEC.parse(&v(args)) {
                Err(ArgError::Usage(m)) => assert!(m.contains(msg), "{:?}: {}", args, m),
                other => panic!("{:?}: {:?}", args, other),
            }
        }
        assert_eq!(SPEC.parse(&v(&["--help"])), Err(ArgError::Help));
        assert_eq!(SPEC.parse(&v(&["s", "-h"])), Err(ArgError::Help));
    }

    #[test]
    fn help_lists_options() {
        let h = SPEC.help();
        assert!(h.contains("Usage: pvdisk create STORE NAME"));
        assert!(h.contains("--size SIZE"));
        assert!(h.contains("--force"));
    }
}
