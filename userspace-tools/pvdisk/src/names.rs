// SPDX-License-Identifier: GPL-2.0

//! Names: the character rule for VDI names and snapshot labels, their
//! uniqueness (one namespace: a label is never also a VDI name), and
//! resolving a name given on the command line to a VDI or a snapshot.
//!
//! A name is 1 to 64 bytes (a label 1 to 40) of `A-Z a-z 0-9 + _ . -`,
//! does not start with `-` and is not `.` or `..`, as LVM's. A snapshot is
//! named by its label or as `VDI@N`.

use crate::error::{Error, Result};
use crate::format::snaplog::LABEL_LEN;
use crate::format::vdi::VDI_NAME_LEN;
use crate::snapshot::SnapRef;
use crate::store::Store;
use crate::uapi;
use std::collections::HashSet;

/// What a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// The live VDI in this registry slot.
    Vdi(u32),
    /// A live snapshot.
    Snapshot(SnapRef),
}

/// Checks `name` against the character rule; `what` ("VDI name", "label")
/// and `max` (bytes) for the message. A bad name is a usage error.
///
/// The verdict is the driver's own rule ([`uapi::name_allowed`], the code
/// the kernel runs on an ioctl's label), so the tool never accepts a name
/// the driver refuses or the other way round; the tests below are only
/// there to say which part of the rule a refused name breaks.
pub fn check_chars(what: &str, name: &str, max: usize) -> Result<()> {
    if uapi::name_allowed(name.as_bytes(), max) {
        return Ok(());
    }
    let why = if name.is_empty() || name.len() > max {
        format!("must be 1 to {} bytes long", max)
    } else if name.starts_with('-') {
        "must not start with '-'".to_string()
    } else if name == "." || name == ".." {
        "must not be '.' or '..'".to_string()
    } else {
        "may hold only letters, digits and + _ . -".to_string()
    };
    Err(Error::Usage(format!(
        "{} '{}' {}",
        what,
        name.escape_debug(),
        why
    )))
}

/// Checks a VDI name.
pub fn check_vdi_name(name: &str) -> Result<()> {
    check_chars("VDI name", name, VDI_NAME_LEN)
}

/// Checks a snapshot label ("" means no label and is allowed).
pub fn check_label(label: &str) -> Result<()> {
    if label.is_empty() {
        return Ok(());
    }
    check_chars("label", label, LABEL_LEN)
}

impl Store {
    /// The slot of the live VDI called `name`.
    pub fn find_vdi(&self, name: &str) -> Result<u32> {
        self.live_vdis()
            .into_iter()
            .find(|(_, r)| r.name() == name)
            .map(|(s, _)| s)
            .ok_or_else(|| Error::NotFound(format!("no VDI named '{}'", name)))
    }

    /// Finds a live snapshot by label. A VDI whose snapshot log is
    /// damaged is passed over (check reports it).
    pub fn find_label(&self, label: &str) -> Result<Option<SnapRef>> {
        if label.is_empty() {
            return Ok(None);
        }
        for (slot, _) in self.live_vdis() {
            let Ok(snaps) = self.snapshots(slot) else {
                continue;
            };
            for (seq, e) in snaps {
                if !e.is_deleted() && e.label() == label {
                    return Ok(Some(SnapRef { slot, seq }));
                }
            }
        }
        Ok(None)
    }

    /// Resolves `VDI@N` or a label to a live snapshot.
    pub fn resolve_snapshot(&self, spec: &str) -> Result<SnapRef> {
        let s = if let Some((name, n)) = spec.rsplit_once('@') {
            let slot = self.find_vdi(name)?;
            let seq: u64 = n.parse().map_err(|_| {
                Error::Usage(format!("'{}': snapshot number is not a number", spec))
            })?;
            SnapRef { slot, seq }
        } else {
            self.find_label(spec)?
                .ok_or_else(|| Error::NotFound(format!("no snapshot labelled '{}'", spec)))?
        };
        let e = self.snapshot_entry(s).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!("no snapshot '{}'", spec)),
            other => other,
        })?;
        if e.is_deleted() {
            return Err(Error::NotFound(format!("snapshot '{}' is deleted", spec)));
        }
        Ok(s)
    }

    /// Resolves a name to a live VDI or, failing that, a live snapshot
    /// (`VDI@N` is always a snapshot). Damage met on the way is reported
    /// as such, never as "no such name".
    pub fn resolve(&self, name: &str) -> Result<Named> {
        if !name.contains('@') {
            if let Ok(slot) = self.find_vdi(name) {
                return Ok(Named::Vdi(slot));
            }
        }
        match self.resolve_snapshot(name) {
            Ok(s) => Ok(Named::Snapshot(s)),
            Err(Error::NotFound(_)) if !name.contains('@') => Err(Error::NotFound(format!(
                "no VDI or snapshot named '{}'",
                name
            ))),
            Err(e) => Err(e),
        }
    }

    /// `VDI@N` name of a snapshot.
    pub fn snap_name(&self, s: SnapRef) -> String {
        let name = self
            .vdis
            .get(s.slot as usize)
            .map(|r| r.name().to_string())
            .unwrap_or_default();
        format!("{}@{}", name, s.seq)
    }

    /// Refuses a name that breaks the rule or is taken by a live VDI or a
    /// live snapshot's label.
    pub fn check_new_vdi_name(&self, name: &str) -> Result<()> {
        self.check_new_vdi_names(&[name])
    }

    /// [`Store::check_new_vdi_name`] for every name of a batch, with the
    /// sentence of the first that fails: first the rule (a usage error)
    /// for all of them, then whether each is taken or given twice. The
    /// names in use are read once (every live snapshot log for the
    /// labels), so a batch costs what one name does.
    pub fn check_new_vdi_names<S: AsRef<str>>(&self, names: &[S]) -> Result<()> {
        for n in names {
            check_vdi_name(n.as_ref())?;
        }
        let vdis: HashSet<&str> = self
            .vdis
            .iter()
            .filter(|r| !r.is_empty() && !r.is_deleted())
            .map(|r| r.name())
            .collect();
        let labels = self.live_labels();
        let mut seen = HashSet::new();
        for n in names.iter().map(AsRef::as_ref) {
            if vdis.contains(n) {
                return Err(Error::msg(format!("a VDI named '{}' already exists", n)));
            }
            if labels.contains(n) {
                return Err(Error::msg(format!(
                    "a snapshot labelled '{}' already exists",
                    n
                )));
            }
            if !seen.insert(n) {
                return Err(Error::Usage(format!("VDI name '{}' is given twice", n)));
            }
        }
        Ok(())
    }

    /// The labels of every live snapshot. A VDI whose snapshot log is
    /// damaged is passed over, as by [`Store::find_label`].
    fn live_labels(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        for (slot, _) in self.live_vdis() {
            let Ok(snaps) = self.snapshots(slot) else {
                continue;
            };
            for (_, e) in snaps {
                if !e.is_deleted() && !e.label().is_empty() {
                    out.insert(e.label().to_string());
                }
            }
        }
        out
    }

    /// Refuses a label that breaks the rule or is taken, other than by the
    /// snapshot `me` itself ("" is always allowed).
    pub fn check_new_label(&self, label: &str, me: Option<SnapRef>) -> Result<()> {
        check_label(label)?;
        if label.is_empty() {
            return Ok(());
        }
        self.check_unused(label, me)
    }

    fn check_unused(&self, name: &str, me: Option<SnapRef>) -> Result<()> {
        if self.live_vdis().iter().any(|(_, r)| r.name() == name) {
            return Err(Error::msg(format!("a VDI named '{}' already exists", name)));
        }
        match self.find_label(name)? {
            Some(other) if Some(other) != me => Err(Error::msg(format!(
                "a snapshot labelled '{}' already exists",
                name
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_rule() {
        for good in ["a", "vm-1", "web_2.img", "x+y", "A.B", "...", "a..b"] {
            assert!(check_vdi_name(good).is_ok(), "{}", good);
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            "-x",
            "a/b",
            "a b",
            "a@1",
            "it's",
            "a\"b",
            "tab\t",
            "é",
            "zero\u{200b}width",
            &long,
        ] {
            let e = check_vdi_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{}", bad);
        }
        assert!(check_label("").is_ok());
        assert!(check_label(&"l".repeat(41)).is_err());
        assert!(check_label(&"l".repeat(40)).is_ok());
    }

    #[test]
    fn the_ioctl_has_the_formats_lengths() {
        // A label or name that fits the on-disk field fits the ioctl's.
        assert_eq!(uapi::LABEL_LEN, LABEL_LEN);
        assert_eq!(uapi::NAME_LEN, VDI_NAME_LEN);
    }
}
