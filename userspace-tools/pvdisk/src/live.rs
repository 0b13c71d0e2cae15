// SPDX-License-Identifier: GPL-2.0

//! Live management (Documentation/tool.rst, *Live management*): `create`,
//! `delete` and `label` of a store whose disks are powered go through the
//! driver's ioctls (`PVDISK_IOC_CREATE`, `_DELETE`, `_LABEL`), sent to
//! any powered disk of the store, so the tool never writes the metadata
//! of a store in use.
//!
//! The tool picks the path by itself. A store is live when the kernel
//! refuses to open its block device exclusively (`O_EXCL` gives `EBUSY`:
//! the driver of a powered disk has claimed it) *and* a powered disk of
//! this host shows a store with the same UUID (`/sys/block/pvdisk*`,
//! asked with `PVDISK_IOC_INFO`). That is the kernel's own word that the
//! device is in use, and the driver's that it is this store; the holds in
//! the VDI records are not used to decide, as a crash leaves them behind
//! and another host may have written them. A claimed device with no such
//! disk (a mount, another host's driver on a shared device) is refused
//! as before.
//!
//! The tool reads the last committed state through a plain read-only open
//! (what `list` reads), resolves the names it prints there and makes the
//! offline command's checks on it, in the same order: a request the state
//! already refuses gets the offline sentence and costs no call (the
//! driver reads the whole VDI registry for each request). Then the driver
//! decides, under its own lock, and commits before it returns. Each errno
//! becomes the sentence the offline command gives for the same cause,
//! computed from that state (for a change made by someone else in
//! between), or a sentence naming the errno for causes only the driver
//! knows (a powered disk showing the target, a missing privilege, a full
//! store).

use crate::error::{io_text, Error, Result};
use crate::names::{check_label, check_vdi_name, Named};
use crate::online::{self, errno, DiskInfo};
use crate::snapshot::SnapRef;
use crate::store::{claimed, Access, Opened, Store};
use crate::sys;
use crate::uapi::{self, NAME_LEN, SPEC_LEN};
use crate::vdi::{check_clone_size, check_new_size};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A powered disk: its device node and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// `/dev/pvdiskN`.
    pub path: PathBuf,
    /// Its answer to `PVDISK_IOC_INFO`.
    pub info: DiskInfo,
}

impl Disk {
    /// `/dev/pvdisk0 shows vm` or `/dev/pvdisk1 shows vm@2`.
    pub fn describe(&self) -> String {
        format!("{} shows {}", self.path.display(), self.info.shows())
    }
}

/// Where the powered disks of this host are found: the real one is
/// [`Sysfs`]; the tests give a fake.
pub trait DiskSource {
    /// The names of the pvdisk block devices (`pvdiskN`), in any order.
    fn names(&self) -> Vec<String>;
    /// What disk `name` shows; `None` if it does not answer
    /// `PVDISK_IOC_INFO` (a pass-through disk, one powered off since).
    fn info(&self, name: &str) -> Option<DiskInfo>;
    /// The device node of disk `name`.
    fn node(&self, name: &str) -> PathBuf {
        Path::new("/dev").join(name)
    }
}

/// The disks of this host: `/sys/block/pvdisk*`, asked through
/// `/dev/pvdiskN`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sysfs;

impl DiskSource for Sysfs {
    fn names(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir("/sys/block") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| disk_number(n).is_some())
            .collect()
    }

    fn info(&self, name: &str) -> Option<DiskInfo> {
        online::probe(&self.node(name))
    }
}

/// N of a disk named `pvdiskN`; `None` for any other name.
pub fn disk_number(name: &str) -> Option<u32> {
    let n = name.strip_prefix("pvdisk")?;
    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The store's UUID as `PVDISK_IOC_INFO` gives it to [`DiskInfo`] (and
/// `pvdisk info STORE` prints it).
pub fn store_uuid(store: &Store) -> String {
    store
        .sb()
        .uuid
        .iter()
        .map(|b| format!("{:02x}", b))
        .collect()
}

/// The powered disks of the store with UUID `uuid`, by number.
pub fn disks_of(src: &dyn DiskSource, uuid: &str) -> Vec<Disk> {
    let mut names: Vec<(u32, String)> = src
        .names()
        .into_iter()
        .filter_map(|n| Some((disk_number(&n)?, n)))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|(_, n)| {
            let info = src.info(&n)?;
            (info.store_uuid == uuid).then(|| Disk {
                path: src.node(&n),
                info,
            })
        })
        .collect()
}

/// The disks as one clause: the first four, then how many more.
pub fn disks_text(disks: &[Disk]) -> String {
    const SHOW: usize = 4;
    let mut s = disks
        .iter()
        .take(SHOW)
        .map(Disk::describe)
        .collect::<Vec<_>>()
        .join(", ");
    if disks.len() > SHOW {
        s.push_str(&format!(" and {} more", disks.len() - SHOW));
    }
    s
}

/// A store opened for a change, on the path the tool picked.
#[derive(Debug)]
pub enum Managed {
    /// No driver holds it: open for writing, with the holds `--force`
    /// overrides.
    Offline(Store, Vec<String>),
    /// Its disks are powered on this host: the change goes through them.
    Live(Live),
}

impl Managed {
    /// The store as the command reads it: the one it will change
    /// offline, the last committed state live.
    pub fn state(&self) -> &Store {
        match self {
            Managed::Offline(s, _) => s,
            Managed::Live(l) => &l.state,
        }
    }
}

/// A store with powered disks on this host.
#[derive(Debug)]
pub struct Live {
    /// The path the user named.
    pub path: PathBuf,
    /// Its last committed state, read-only.
    pub state: Store,
    /// Its powered disks, by number (at least one).
    pub disks: Vec<Disk>,
    wait: bool,
}

/// Opens the store at `path` for a change on the path the tool picks
/// (see the module's comment).
pub fn open(path: &Path, access: Access) -> Result<Managed> {
    open_with(&Sysfs, path, access)
}

/// [`open`] with the disks of `src`.
pub fn open_with(src: &dyn DiskSource, path: &Path, access: Access) -> Result<Managed> {
    match Store::open_for_change(path, access)? {
        Opened::Offline(store, overridden) => Ok(Managed::Offline(*store, overridden)),
        Opened::Claimed => Live::find(src, path, access.wait)
            .map(Managed::Live)
            .ok_or_else(|| claimed(path, access)),
    }
}

/// The refusal of a command that works only offline (`what`, e.g.
/// "rename") on a claimed device: with the powered disks and what to do
/// instead (`hint` is given them), or as before when no disk of the
/// store is powered here.
pub fn offline_only(
    path: &Path,
    access: Access,
    what: &str,
    hint: &dyn Fn(&Live) -> String,
) -> Error {
    match Live::find(&Sysfs, path, access.wait) {
        Some(live) => live.refuse(what, hint),
        None => claimed(path, access),
    }
}

/// A request as the tool sent it, for the sentences of its refusals.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// `pvdisk create`.
    Create {
        /// New VDI's name.
        name: &'a str,
        /// Snapshot to clone, as given.
        from: Option<&'a str>,
        /// Size asked for, 0 for a clone's default.
        bytes: u64,
    },
    /// `pvdisk delete`.
    Delete {
        /// The target as given.
        target: &'a str,
        /// What it named in the committed state.
        named: Named,
    },
    /// `pvdisk label`.
    Label {
        /// The snapshot as given.
        spec: &'a str,
        /// What it named in the committed state.
        snap: SnapRef,
        /// The new label.
        label: &'a str,
    },
}

impl Live {
    /// The live store at `path`: its committed state and its powered
    /// disks, or `None` if it cannot be read or no disk of it is powered.
    pub fn find(src: &dyn DiskSource, path: &Path, wait: bool) -> Option<Live> {
        let state = Store::open_wait(path, false, wait).ok()?;
        let disks = disks_of(src, &store_uuid(&state));
        (!disks.is_empty()).then(|| Live {
            path: path.to_path_buf(),
            state,
            disks,
            wait,
        })
    }

    /// The refusal of an offline-only command `what` on this store.
    pub fn refuse(&self, what: &str, hint: &dyn Fn(&Live) -> String) -> Error {
        Error::Busy(format!(
            "{}: the store has powered disks on this host ({}), and {} works only with all of them powered off; {}",
            self.path.display(),
            disks_text(&self.disks),
            what,
            hint(self)
        ))
    }

    /// The powered disk that shows VDI `name` itself (read-write).
    pub fn disk_showing(&self, name: &str) -> Option<&Disk> {
        self.disks
            .iter()
            .find(|d| d.info.snapshot.is_none() && d.info.name == name)
    }

    /// Runs `call` on the first powered disk that opens (read-only: the
    /// ioctls need `CAP_SYS_ADMIN`, not a descriptor open for writing).
    /// A disk powered off since the scan is passed over.
    fn ask<T>(&self, call: impl Fn(&File) -> io::Result<T>) -> Result<(PathBuf, io::Result<T>)> {
        let mut failed = None;
        for d in &self.disks {
            match File::open(&d.path) {
                Ok(f) => return Ok((d.path.clone(), call(&f))),
                Err(e) => failed = failed.or(Some((d.path.clone(), e))),
            }
        }
        let (path, e) =
            failed.unwrap_or_else(|| (self.path.clone(), io::ErrorKind::NotFound.into()));
        Err(Error::io(
            format_args!(
                "{}: no powered disk of the store could be opened; {}",
                self.path.display(),
                path.display()
            ),
            e,
        ))
    }

    /// Runs `call` on a disk and turns a refusal into its sentence.
    fn send<T>(&self, req: Request<'_>, call: impl Fn(&File) -> io::Result<T>) -> Result<T> {
        let (disk, r) = self.ask(call)?;
        r.map_err(|e| explain(&req, &e, &self.state, &self.disks, &disk))
    }

    /// `PVDISK_IOC_CREATE`: VDI `name`, empty of `size` bytes or a clone
    /// of snapshot `from` (of `size` bytes, by default the snapshot's).
    /// Returns the new VDI's size, read back from the committed state.
    pub fn create(&self, name: &str, from: Option<&str>, size: Option<u64>) -> Result<u64> {
        let (sizes, stopped) = self.create_many(&[name], from, size);
        match stopped {
            Some(e) => Err(e),
            None => crate::vdi::only(sizes),
        }
    }

    /// [`Live::create`] for each name, one `PVDISK_IOC_CREATE` after the
    /// other, in order. The whole batch is checked on the committed
    /// state first (names, the snapshot, the size, the registry's room),
    /// as offline, and a refusal there asks nothing of the driver. The
    /// driver makes and commits each VDI on its own, so a refusal from it
    /// (a full store, a change by someone else in between) stops the
    /// batch with the VDIs before it made. Returns the sizes of the VDIs
    /// made, in the names' order (read back once, at the end), and the
    /// error that stopped the batch, if any.
    pub fn create_many<S: AsRef<str>>(
        &self,
        names: &[S],
        from: Option<&str>,
        size: Option<u64>,
    ) -> (Vec<u64>, Option<Error>) {
        let mut ids = Vec::with_capacity(names.len());
        let stopped = self.create_each(names, from, size, &mut ids).err();
        // Committed before each ioctl returned: read the sizes they got.
        let made = Store::open_wait(&self.path, false, self.wait).ok();
        let parent = from
            .and_then(|f| self.state.resolve_snapshot(f).ok())
            .and_then(|s| self.state.vdi(s.slot).ok())
            .map(|r| r.size);
        let sizes = ids
            .iter()
            .map(|&id| {
                made.as_ref()
                    .and_then(|s| s.vdi_by_id(id))
                    .map(|(_, r)| r.size)
                    .or(size)
                    .or(parent)
                    .unwrap_or(0)
            })
            .collect();
        (sizes, stopped)
    }

    fn create_each<S: AsRef<str>>(
        &self,
        names: &[S],
        from: Option<&str>,
        size: Option<u64>,
        ids: &mut Vec<u64>,
    ) -> Result<()> {
        let mut name_fields = Vec::with_capacity(names.len());
        for name in names.iter().map(AsRef::as_ref) {
            check_vdi_name(name)?;
            // A name may fill its field (no NUL), as in the VDI record.
            name_fields.push(
                uapi::padded::<NAME_LEN>(name.as_bytes())
                    .ok_or_else(|| Error::Usage(format!("VDI name '{}' is too long", name)))?,
            );
        }
        let from_field = match from {
            None => [0; SPEC_LEN],
            // A spec that does not fit names nothing: the offline sentence.
            Some(f) => field::<SPEC_LEN>(f)
                .map_err(|e| self.state.resolve_snapshot(f).err().unwrap_or(e))?,
        };
        let bytes = size.unwrap_or(0);
        if let Some(e) = create_refusal_many(&self.state, names, from, bytes) {
            return Err(e);
        }
        self.state.free_slots(names.len())?;
        for (name, name_field) in names.iter().map(AsRef::as_ref).zip(name_fields) {
            let req = Request::Create { name, from, bytes };
            ids.push(self.send(req, |f| {
                sys::pvdisk_create(f, name_field, from_field, bytes)
            })?);
        }
        Ok(())
    }

    /// `PVDISK_IOC_DELETE` of `target` (resolved to `named` in the
    /// committed state), with `PVDISK_DELETE_FORCE` if `force`; a VDI
    /// that the state shows is not alone is refused without `force`, as
    /// offline.
    pub fn delete(&self, target: &str, named: Named, force: bool) -> Result<()> {
        if let (Named::Vdi(slot), false) = (named, force) {
            let notes = self.state.delete_notes(slot)?;
            if !notes.is_empty() {
                return Err(crate::vdi::not_alone(target, &notes));
            }
        }
        let target_field = field::<SPEC_LEN>(target)?;
        let flags = if force { uapi::PVDISK_DELETE_FORCE } else { 0 };
        let req = Request::Delete { target, named };
        self.send(req, |f| sys::pvdisk_delete(f, target_field, flags))
    }

    /// `PVDISK_IOC_LABEL`: snapshot `spec` (resolved to `snap`) gets
    /// `label`.
    pub fn label(&self, spec: &str, snap: SnapRef, label: &str) -> Result<()> {
        check_label(label)?;
        if label.is_empty() {
            // The driver sets labels, it does not remove them (EINVAL).
            return Err(Error::msg(format!(
                "{}: the driver sets labels but does not remove them; remove the label of {} with the store's disks powered off, or give it another",
                self.path.display(),
                self.state.snap_name(snap)
            )));
        }
        self.state.check_new_label(label, Some(snap))?;
        let spec_field = field::<SPEC_LEN>(spec)?;
        let label_field = online::label_field(label)?;
        let req = Request::Label { spec, snap, label };
        self.send(req, |f| sys::pvdisk_label(f, spec_field, label_field))
    }
}

/// `text` in a NUL-padded field of `N` bytes with room for its NUL (a
/// field naming a VDI, a label or `VDI@N`).
fn field<const N: usize>(text: &str) -> Result<[u8; N]> {
    if text.len() >= N {
        return Err(Error::NotFound(format!(
            "no VDI or snapshot named '{}' (names are shorter than {} bytes)",
            text, N
        )));
    }
    uapi::padded::<N>(text.as_bytes())
        .ok_or_else(|| Error::msg(format!("'{}' does not fit the request", text)))
}

/// The first offline check of a create that the committed state fails,
/// in the order the offline command makes them: the snapshot to clone,
/// the name, the size. `None` if it passes them all.
pub fn create_refusal(state: &Store, name: &str, from: Option<&str>, bytes: u64) -> Option<Error> {
    create_refusal_many(state, &[name], from, bytes)
}

/// [`create_refusal`] of a batch: the first check any of `names` fails,
/// each check made for every name before the next.
pub fn create_refusal_many<S: AsRef<str>>(
    state: &Store,
    names: &[S],
    from: Option<&str>,
    bytes: u64,
) -> Option<Error> {
    let parent = match from {
        Some(f) => match state.resolve_snapshot(f).and_then(|s| state.vdi(s.slot)) {
            Ok(r) => Some(r),
            Err(e) => return Some(e),
        },
        None => None,
    };
    if let Err(e) = state.check_new_vdi_names(names) {
        return Some(e);
    }
    match parent {
        Some(r) => {
            let size = if bytes == 0 { r.size } else { bytes };
            check_clone_size(size, r.height).err()
        }
        None => check_new_size(bytes).err(),
    }
}

/// The sentence for a live request the driver refused with `e` (from
/// `disk`), worded from the committed state `state` and the powered
/// `disks`: the offline command's own sentence when the state shows the
/// cause, else one naming the errno.
pub fn explain(
    req: &Request<'_>,
    e: &io::Error,
    state: &Store,
    disks: &[Disk],
    disk: &Path,
) -> Error {
    let Some(code) = e.raw_os_error() else {
        return Error::Io(format!("{}: {}", disk.display(), io_text(e)));
    };
    // Causes the committed state shows: the offline sentence.
    let offline = match (code, *req) {
        (errno::ENOENT | errno::EEXIST | errno::EINVAL, Request::Create { name, from, bytes }) => {
            create_refusal(state, name, from, bytes)
        }
        (errno::ENOENT | errno::EINVAL, Request::Delete { target, .. }) => {
            state.resolve(target).err()
        }
        (
            errno::ENOTEMPTY,
            Request::Delete {
                target,
                named: Named::Vdi(slot),
            },
        ) => state
            .delete_notes(slot)
            .ok()
            .filter(|n| !n.is_empty())
            .map(|n| crate::vdi::not_alone(target, &n)),
        (errno::ENOENT | errno::EEXIST | errno::EINVAL, Request::Label { spec, snap, label }) => {
            state
                .resolve_snapshot(spec)
                .and_then(|_| state.check_new_label(label, Some(snap)))
                .err()
        }
        _ => None,
    };
    if let Some(err) = offline {
        return err;
    }
    let (name, why) = match code {
        errno::EBUSY => ("EBUSY", busy(req, state, disks)),
        errno::ENOENT => (
            "ENOENT",
            match *req {
                Request::Create { from, .. } => {
                    format!("no live snapshot '{}'", from.unwrap_or_default())
                }
                Request::Delete { target, .. } => format!("no VDI or snapshot named '{}'", target),
                Request::Label { spec, .. } => format!("no live snapshot '{}'", spec),
            },
        ),
        errno::EEXIST => (
            "EEXIST",
            match *req {
                Request::Create { name, .. } => format!("the name '{}' is in use by a VDI or a snapshot's label", name),
                Request::Label { label, .. } => {
                    format!("the label '{}' is in use by a VDI or a snapshot", label)
                }
                Request::Delete { target, .. } => format!("the driver refused to delete '{}'", target),
            },
        ),
        errno::ENOTEMPTY => (
            "ENOTEMPTY",
            match *req {
                Request::Delete { target, .. } => format!(
                    "VDI '{}' is not alone: it has live snapshots or clones; use --force to delete it",
                    target
                ),
                _ => "the driver refused: not empty".to_string(),
            },
        ),
        errno::EPERM => (
            "EPERM",
            "a change to a store with powered disks goes through the driver, which needs CAP_SYS_ADMIN; run it as root".to_string(),
        ),
        errno::ENOSPC => (
            "ENOSPC",
            match *req {
                Request::Create { .. } => "the store has no free VDI slot or metadata block left; delete VDIs or snapshots (gc reclaims their blocks once the store's disks are powered off)".to_string(),
                _ => "the store has no metadata block left, even in the reserve kept for delete and label".to_string(),
            },
        ),
        errno::EROFS => (
            "EROFS",
            "the driver cannot write the store (its device is read-only)".to_string(),
        ),
        errno::EIO => (
            "EIO",
            "I/O error on the store (the kernel log says more)".to_string(),
        ),
        errno::EINVAL => (
            "EINVAL",
            "the driver refused the request as malformed (is the driver older than the tool?)".to_string(),
        ),
        errno::E2BIG => (
            "E2BIG",
            "the driver does not know every field the tool sent (the driver is older than the tool)".to_string(),
        ),
        errno::ENOTTY => (
            "ENOTTY",
            format!(
                "{} does not take live management requests (a driver older than the tool); power the store's disks off to make the change offline",
                disk.display()
            ),
        ),
        _ => return Error::Io(format!("{}: {}", disk.display(), io_text(e))),
    };
    let s = format!("{} ({})", why, name);
    match code {
        errno::EIO => Error::Io(s),
        errno::EBUSY => Error::Busy(s),
        errno::ENOENT => Error::NotFound(s),
        _ => Error::Refused(s),
    }
}

/// Why a request got `EBUSY`: for a delete, the powered disks that show
/// the target (or, for a VDI, one of its snapshots), from the scan.
fn busy(req: &Request<'_>, state: &Store, disks: &[Disk]) -> String {
    let them = |n: usize| if n == 1 { "it" } else { "them" };
    let paths = |ds: &[&Disk]| {
        ds.iter()
            .map(|d| d.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match *req {
        Request::Delete {
            named: Named::Snapshot(s),
            ..
        } => {
            let name = state.snap_name(s);
            let id = state.vdi(s.slot).map(|r| r.id).ok();
            let showing: Vec<&Disk> = disks
                .iter()
                .filter(|d| Some(d.info.vdi_id) == id && d.info.snapshot == Some(s.seq))
                .collect();
            if showing.is_empty() {
                format!("snapshot {} is shown by a powered disk", name)
            } else {
                format!(
                    "snapshot {} is shown by a powered disk ({}); power {} off first",
                    name,
                    paths(&showing),
                    them(showing.len())
                )
            }
        }
        Request::Delete {
            target,
            named: Named::Vdi(slot),
        } => {
            let id = state.vdi(slot).map(|r| r.id).ok();
            let showing: Vec<&Disk> = disks.iter().filter(|d| Some(d.info.vdi_id) == id).collect();
            let own: Vec<&Disk> = showing
                .iter()
                .copied()
                .filter(|d| d.info.snapshot.is_none())
                .collect();
            if showing.is_empty() {
                format!(
                    "VDI '{}' or one of its snapshots is shown by a powered disk",
                    target
                )
            } else if !own.is_empty() {
                format!(
                    "VDI '{}' is shown by a powered disk ({}); power {} off first",
                    target,
                    paths(&own),
                    them(own.len())
                )
            } else {
                let list = showing
                    .iter()
                    .map(|d| d.describe())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "a snapshot of VDI '{}' is shown by a powered disk ({}); power {} off first",
                    target,
                    list,
                    them(showing.len())
                )
            }
        }
        _ => "the driver refused: the store is busy".to_string(),
    }
}
