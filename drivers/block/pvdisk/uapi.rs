// SPDX-License-Identifier: GPL-2.0

//! The ioctl interface of `/dev/pvdiskN`: the Rust twin of
//! `include/uapi/linux/pvdisk.h`, shared by the driver and the tool (which
//! compile this file through `#[path]`, like the format). A host test
//! compiles the C header and compares every size, offset and command
//! number with the ones here.
//!
//! Each argument struct starts with its size and a flags word, so it can
//! grow: the caller sets `size` to the size it knows. A size below the
//! first version's is `EINVAL`; a larger one is accepted when every byte
//! beyond what the driver knows is zero (`E2BIG` otherwise), and the
//! driver writes back only the fields it knows. The commands are matched
//! without their size bits, so a grown struct keeps its command.
//!
//! The structs are read and written as byte images in native byte order
//! (an ioctl never leaves the machine), field by field at fixed offsets: no `unsafe` casts, and the layout is the same
//! for 32-bit and 64-bit callers (every field is naturally aligned and
//! the sizes are multiples of 8), so `compat_ioctl` needs no translation.

#![forbid(unsafe_code)]

/// The ioctl type byte of pvdisk (unassigned in the kernel's
/// ioctl-number list).
pub const PVDISK_IOC_MAGIC: u32 = 0xD7;

/// `_IOC_WRITE | _IOC_READ` in the generic encoding (x86, arm64, riscv).
const IOC_READ_WRITE: u32 = 3;
/// `_IOC_WRITE` in the generic encoding.
const IOC_WRITE: u32 = 1;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
/// The size bits of a command number.
const IOC_SIZEMASK: u32 = 0x3fff << IOC_SIZESHIFT;

/// `_IOWR(PVDISK_IOC_MAGIC, nr, size)`.
const fn iowr(nr: u32, size: usize) -> u32 {
    (IOC_READ_WRITE << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (PVDISK_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `_IOW(PVDISK_IOC_MAGIC, nr, size)`.
const fn iow(nr: u32, size: usize) -> u32 {
    (IOC_WRITE << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (PVDISK_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// Size of `struct pvdisk_snapshot`, version 1.
pub const SNAPSHOT_SIZE: usize = 88;
/// Size of `struct pvdisk_info`, version 1.
pub const INFO_SIZE: usize = 128;

/// Take a snapshot of the disk's VDI: `_IOWR(0xD7, 1, struct pvdisk_snapshot)`.
pub const PVDISK_IOC_SNAPSHOT: u32 = iowr(1, SNAPSHOT_SIZE);
/// Describe the disk: `_IOWR(0xD7, 2, struct pvdisk_info)`.
pub const PVDISK_IOC_INFO: u32 = iowr(2, INFO_SIZE);
/// Size of `struct pvdisk_create`, version 1.
pub const CREATE_SIZE: usize = 200;
/// Size of `struct pvdisk_delete`, version 1.
pub const DELETE_SIZE: usize = 120;
/// Size of `struct pvdisk_label`, version 1.
pub const LABEL_SIZE: usize = 160;
/// Create a VDI or a clone in the disk's store:
/// `_IOWR(0xD7, 3, struct pvdisk_create)`.
pub const PVDISK_IOC_CREATE: u32 = iowr(3, CREATE_SIZE);
/// Delete a VDI or a snapshot of the disk's store:
/// `_IOW(0xD7, 4, struct pvdisk_delete)`.
pub const PVDISK_IOC_DELETE: u32 = iow(4, DELETE_SIZE);
/// Label a snapshot of the disk's store: `_IOW(0xD7, 5, struct pvdisk_label)`.
pub const PVDISK_IOC_LABEL: u32 = iow(5, LABEL_SIZE);

/// Longest label, in bytes (the snapshot log's field).
pub const LABEL_LEN: usize = 40;
/// Longest VDI name, in bytes (the VDI record's field).
pub const NAME_LEN: usize = 64;
/// Bytes of a store UUID.
pub const UUID_LEN: usize = 16;
/// Bytes of a field naming a VDI, a label or `VDI@N` (NUL-padded).
pub const SPEC_LEN: usize = 112;

/// `pvdisk_snapshot.flags`: return once the snapshot is in the disk's
/// tree; it is durable after the disk's next commit.
pub const PVDISK_SNAPSHOT_LAZY: u32 = 1;

/// `pvdisk_delete.flags`: delete a VDI that has snapshots or clones.
pub const PVDISK_DELETE_FORCE: u32 = 1;

/// `pvdisk_info.info_flags` (out): the disk is a read-only snapshot.
pub const PVDISK_INFO_SNAPSHOT: u32 = 1;

/// The pvdisk command `cmd` stands for, whatever size it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// [`PVDISK_IOC_SNAPSHOT`].
    Snapshot,
    /// [`PVDISK_IOC_INFO`].
    Info,
    /// [`PVDISK_IOC_CREATE`].
    Create,
    /// [`PVDISK_IOC_DELETE`].
    Delete,
    /// [`PVDISK_IOC_LABEL`].
    Label,
}

impl Command {
    /// The command `cmd` names, or `None` (`ENOTTY`).
    pub fn of(cmd: u32) -> Option<Self> {
        match cmd & !IOC_SIZEMASK {
            c if c == PVDISK_IOC_SNAPSHOT & !IOC_SIZEMASK => Some(Self::Snapshot),
            c if c == PVDISK_IOC_INFO & !IOC_SIZEMASK => Some(Self::Info),
            c if c == PVDISK_IOC_CREATE & !IOC_SIZEMASK => Some(Self::Create),
            c if c == PVDISK_IOC_DELETE & !IOC_SIZEMASK => Some(Self::Delete),
            c if c == PVDISK_IOC_LABEL & !IOC_SIZEMASK => Some(Self::Label),
            _ => None,
        }
    }

    /// The size of the first version of its struct.
    pub fn struct_size(self) -> usize {
        match self {
            Self::Snapshot => SNAPSHOT_SIZE,
            Self::Info => INFO_SIZE,
            Self::Create => CREATE_SIZE,
            Self::Delete => DELETE_SIZE,
            Self::Label => LABEL_SIZE,
        }
    }

    /// The flags its struct may carry.
    pub fn known_flags(self) -> u32 {
        match self {
            Self::Snapshot => PVDISK_SNAPSHOT_LAZY,
            Self::Delete => PVDISK_DELETE_FORCE,
            _ => 0,
        }
    }
}

/// Why an argument struct was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgError {
    /// Shorter than the first version, or a flag this version does not
    /// know (`EINVAL`).
    Invalid,
    /// Longer than this version, with bytes set beyond it (`E2BIG`).
    TooBig,
}

/// The header every argument struct starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The size the caller knows.
    pub size: u32,
    /// Flags in; 0 for now.
    pub flags: u32,
}

const OFF_SIZE: usize = 0;
const OFF_FLAGS: usize = 4;

impl Header {
    /// The header at the start of `b` (at least 8 bytes).
    pub fn decode(b: &[u8]) -> Self {
        Header {
            size: get_u32(b, OFF_SIZE),
            flags: get_u32(b, OFF_FLAGS),
        }
    }

    /// Checks the size against the first version's (`known`), and that no
    /// flag is set. The caller then checks that bytes beyond `known` are
    /// zero with [`tail_is_zero`].
    pub fn check(&self, known: usize) -> Result<(), ArgError> {
        self.check_with(known, 0)
    }

    /// [`Header::check`] for a struct whose flags may have the bits
    /// `known_flags`.
    pub fn check_with(&self, known: usize, known_flags: u32) -> Result<(), ArgError> {
        if (self.size as usize) < known || self.flags & !known_flags != 0 {
            return Err(ArgError::Invalid);
        }
        Ok(())
    }
}

/// True if a chunk of the part of a grown struct beyond what this
/// version knows is all zero.
pub fn tail_is_zero(chunk: &[u8]) -> bool {
    chunk.iter().all(|&c| c == 0)
}

/// `struct pvdisk_snapshot`: in, the label; out, what was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// In: NUL-padded label, "" for none.
    pub label: [u8; LABEL_LEN],
    /// Out: id of the VDI.
    pub vdi_id: u64,
    /// Out: the snapshot's number N (it is `VDI@N`).
    pub seq: u64,
    /// Out: the snapshot-log block holding its entry.
    pub log_block: u64,
    /// Out: the entry's index in that block.
    pub log_index: u32,
    /// Out: seconds since the epoch, as in the log.
    pub timestamp: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            label: [0; LABEL_LEN],
            vdi_id: 0,
            seq: 0,
            log_block: 0,
            log_index: 0,
            timestamp: 0,
        }
    }
}

const SNAP_OFF_LABEL: usize = 8;
const SNAP_OFF_VDI: usize = 48;
const SNAP_OFF_SEQ: usize = 56;
const SNAP_OFF_LOG_BLOCK: usize = 64;
const SNAP_OFF_LOG_INDEX: usize = 72;
const SNAP_OFF_TIMESTAMP: usize = 80;

impl Snapshot {
    /// Reads the struct (both directions' fields) from `b`.
    pub fn decode(b: &[u8; SNAPSHOT_SIZE]) -> Self {
        let mut label = [0u8; LABEL_LEN];
        if let Some(src) = b.get(SNAP_OFF_LABEL..SNAP_OFF_LABEL + LABEL_LEN) {
            label.copy_from_slice(src);
        }
        Snapshot {
            label,
            vdi_id: get_u64(b, SNAP_OFF_VDI),
            seq: get_u64(b, SNAP_OFF_SEQ),
            log_block: get_u64(b, SNAP_OFF_LOG_BLOCK),
            log_index: get_u32(b, SNAP_OFF_LOG_INDEX),
            timestamp: get_u64(b, SNAP_OFF_TIMESTAMP),
        }
    }

    /// Writes the struct into `b`, with `header`.
    pub fn encode(&self, header: Header, b: &mut [u8; SNAPSHOT_SIZE]) {
        b.fill(0);
        put_u32(b, OFF_SIZE, header.size);
        put_u32(b, OFF_FLAGS, header.flags);
        if let Some(dst) = b.get_mut(SNAP_OFF_LABEL..SNAP_OFF_LABEL + LABEL_LEN) {
            dst.copy_from_slice(&self.label);
        }
        put_u64(b, SNAP_OFF_VDI, self.vdi_id);
        put_u64(b, SNAP_OFF_SEQ, self.seq);
        put_u64(b, SNAP_OFF_LOG_BLOCK, self.log_block);
        put_u32(b, SNAP_OFF_LOG_INDEX, self.log_index);
        put_u64(b, SNAP_OFF_TIMESTAMP, self.timestamp);
    }

    /// The label, if it is a valid one: `Some("")` for none, `None` if it
    /// breaks the naming rule or is not NUL-padded.
    pub fn label(&self) -> Option<&str> {
        label_of(&self.label)
    }
}

/// `struct pvdisk_info`: out, what the disk shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// `PVDISK_INFO_*` flags (the C struct's `info_flags`).
    pub flags: u32,
    /// Id of the VDI (of the snapshot's VDI).
    pub vdi_id: u64,
    /// Size of the disk in bytes.
    pub disk_bytes: u64,
    /// Snapshots taken of the VDI so far (the log's highest number).
    pub snap_count: u64,
    /// N for a disk showing snapshot `VDI@N`, 0 for the VDI itself.
    pub snapshot: u64,
    /// UUID of the store.
    pub store_uuid: [u8; UUID_LEN],
    /// NUL-padded VDI name.
    pub name: [u8; NAME_LEN],
}

impl Default for Info {
    fn default() -> Self {
        Info {
            flags: 0,
            vdi_id: 0,
            disk_bytes: 0,
            snap_count: 0,
            snapshot: 0,
            store_uuid: [0; UUID_LEN],
            name: [0; NAME_LEN],
        }
    }
}

const INFO_OFF_OUT_FLAGS: usize = 8;
const INFO_OFF_VDI: usize = 16;
const INFO_OFF_BYTES: usize = 24;
const INFO_OFF_SNAPS: usize = 32;
const INFO_OFF_SNAPSHOT: usize = 40;
const INFO_OFF_UUID: usize = 48;
const INFO_OFF_NAME: usize = 64;
const INFO_OFF_END: usize = INFO_OFF_NAME + NAME_LEN;

impl Info {
    /// Reads the struct from `b`.
    pub fn decode(b: &[u8; INFO_SIZE]) -> Self {
        let mut info = Info {
            flags: get_u32(b, INFO_OFF_OUT_FLAGS),
            vdi_id: get_u64(b, INFO_OFF_VDI),
            disk_bytes: get_u64(b, INFO_OFF_BYTES),
            snap_count: get_u64(b, INFO_OFF_SNAPS),
            snapshot: get_u64(b, INFO_OFF_SNAPSHOT),
            ..Info::default()
        };
        if let Some(src) = b.get(INFO_OFF_UUID..INFO_OFF_UUID + UUID_LEN) {
            info.store_uuid.copy_from_slice(src);
        }
        if let Some(src) = b.get(INFO_OFF_NAME..INFO_OFF_END) {
            info.name.copy_from_slice(src);
        }
        info
    }

    /// Writes the struct into `b`, with `header`.
    pub fn encode(&self, header: Header, b: &mut [u8; INFO_SIZE]) {
        b.fill(0);
        put_u32(b, OFF_SIZE, header.size);
        put_u32(b, OFF_FLAGS, header.flags);
        put_u32(b, INFO_OFF_OUT_FLAGS, self.flags);
        put_u64(b, INFO_OFF_VDI, self.vdi_id);
        put_u64(b, INFO_OFF_BYTES, self.disk_bytes);
        put_u64(b, INFO_OFF_SNAPS, self.snap_count);
        put_u64(b, INFO_OFF_SNAPSHOT, self.snapshot);
        if let Some(dst) = b.get_mut(INFO_OFF_UUID..INFO_OFF_UUID + UUID_LEN) {
            dst.copy_from_slice(&self.store_uuid);
        }
        if let Some(dst) = b.get_mut(INFO_OFF_NAME..INFO_OFF_END) {
            dst.copy_from_slice(&self.name);
        }
    }
}

/// `struct pvdisk_create`: in, the name, size and source; out, the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Create {
    /// In: size in bytes; 0 for a clone of the snapshot's size.
    pub bytes: u64,
    /// In: NUL-padded name of the new VDI.
    pub name: [u8; NAME_LEN],
    /// In: NUL-padded snapshot to clone, empty for an empty VDI.
    pub from: [u8; SPEC_LEN],
    /// Out: id of the new VDI.
    pub vdi_id: u64,
}

impl Default for Create {
    fn default() -> Self {
        Create {
            bytes: 0,
            name: [0; NAME_LEN],
            from: [0; SPEC_LEN],
            vdi_id: 0,
        }
    }
}

const CREATE_OFF_BYTES: usize = 8;
const CREATE_OFF_NAME: usize = 16;
const CREATE_OFF_FROM: usize = CREATE_OFF_NAME + NAME_LEN;
const CREATE_OFF_VDI: usize = CREATE_OFF_FROM + SPEC_LEN;

impl Create {
    /// Reads the struct from `b`.
    pub fn decode(b: &[u8; CREATE_SIZE]) -> Self {
        Create {
            bytes: get_u64(b, CREATE_OFF_BYTES),
            name: get_array(b, CREATE_OFF_NAME),
            from: get_array(b, CREATE_OFF_FROM),
            vdi_id: get_u64(b, CREATE_OFF_VDI),
        }
    }

    /// Writes the struct into `b`, with `header`.
    pub fn encode(&self, header: Header, b: &mut [u8; CREATE_SIZE]) {
        b.fill(0);
        put_u32(b, OFF_SIZE, header.size);
        put_u32(b, OFF_FLAGS, header.flags);
        put_u64(b, CREATE_OFF_BYTES, self.bytes);
        put_bytes(b, CREATE_OFF_NAME, &self.name);
        put_bytes(b, CREATE_OFF_FROM, &self.from);
        put_u64(b, CREATE_OFF_VDI, self.vdi_id);
    }
}

/// `struct pvdisk_delete`: in, what to delete (the flags are the
/// header's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delete {
    /// In: NUL-padded VDI name, label or `VDI@N`.
    pub target: [u8; SPEC_LEN],
}

const DELETE_OFF_TARGET: usize = 8;

impl Delete {
    /// Reads the struct from `b`.
    pub fn decode(b: &[u8; DELETE_SIZE]) -> Self {
        Delete {
            target: get_array(b, DELETE_OFF_TARGET),
        }
    }

    /// Writes the struct into `b`, with `header`.
    pub fn encode(&self, header: Header, b: &mut [u8; DELETE_SIZE]) {
        b.fill(0);
        put_u32(b, OFF_SIZE, header.size);
        put_u32(b, OFF_FLAGS, header.flags);
        put_bytes(b, DELETE_OFF_TARGET, &self.target);
    }
}

/// `struct pvdisk_label`: in, the snapshot and its new label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// In: NUL-padded label or `VDI@N` of the snapshot.
    pub snapshot: [u8; SPEC_LEN],
    /// In: NUL-padded new label.
    pub label: [u8; LABEL_LEN],
}

const LABEL_OFF_SNAPSHOT: usize = 8;
const LABEL_OFF_LABEL: usize = LABEL_OFF_SNAPSHOT + SPEC_LEN;

impl Label {
    /// Reads the struct from `b`.
    pub fn decode(b: &[u8; LABEL_SIZE]) -> Self {
        Label {
            snapshot: get_array(b, LABEL_OFF_SNAPSHOT),
            label: get_array(b, LABEL_OFF_LABEL),
        }
    }

    /// Writes the struct into `b`, with `header`.
    pub fn encode(&self, header: Header, b: &mut [u8; LABEL_SIZE]) {
        b.fill(0);
        put_u32(b, OFF_SIZE, header.size);
        put_u32(b, OFF_FLAGS, header.flags);
        put_bytes(b, LABEL_OFF_SNAPSHOT, &self.snapshot);
        put_bytes(b, LABEL_OFF_LABEL, &self.label);
    }
}

/// The text of a NUL-padded field: `None` if it is empty, has bytes after
/// its first NUL, or fills the field (a field of [`SPEC_LEN`] always ends
/// in a NUL; names of [`NAME_LEN`] bytes may fill theirs, see
/// [`name_of`]).
pub fn spec_of(field: &[u8; SPEC_LEN]) -> Option<&[u8]> {
    let len = field.iter().position(|&c| c == 0)?;
    let (text, pad) = field.split_at(len);
    (len > 0 && pad.iter().all(|&c| c == 0)).then_some(text)
}

/// A VDI name in a NUL-padded field, if it follows the naming rule.
pub fn name_of(field: &[u8; NAME_LEN]) -> Option<&[u8]> {
    let len = field.iter().position(|&c| c == 0).unwrap_or(NAME_LEN);
    let (name, pad) = field.split_at(len);
    (pad.iter().all(|&c| c == 0) && name_allowed(name, NAME_LEN)).then_some(name)
}

/// Copies `text` into a NUL-padded field of `N` bytes; `None` if it does
/// not fit.
pub fn padded<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut field = [0u8; N];
    field.get_mut(..text.len())?.copy_from_slice(text);
    Some(field)
}

/// A spec split at its last `@`: the VDI name and the snapshot number's
/// text for `VDI@N`, or the whole spec (a VDI name or a label) and
/// `None`.
pub fn split_spec(spec: &[u8]) -> (&[u8], Option<&[u8]>) {
    match spec.iter().rposition(|&c| c == b'@') {
        Some(at) => (
            spec.get(..at).unwrap_or(&[]),
            Some(spec.get(at + 1..).unwrap_or(&[])),
        ),
        None => (spec, None),
    }
}

/// The naming rule of VDI names and labels: 1 to `max` bytes of
/// `A-Z a-z 0-9 + _ . -`, not starting with `-`, not `.` or `..`.
pub fn name_allowed(name: &[u8], max: usize) -> bool {
    let ok = |c: &u8| c.is_ascii_alphanumeric() || b"+_.-".contains(c);
    !name.is_empty()
        && name.len() <= max
        && name.first() != Some(&b'-')
        && name != b"."
        && name != b".."
        && name.iter().all(ok)
}

/// The label in a NUL-padded field: `Some("")` for an empty one, `None`
/// if it breaks the rule or has bytes after its NUL.
pub fn label_of(field: &[u8; LABEL_LEN]) -> Option<&str> {
    let len = field.iter().position(|&c| c == 0).unwrap_or(LABEL_LEN);
    let (name, pad) = field.split_at(len);
    if pad.iter().any(|&c| c != 0) || (len > 0 && !name_allowed(name, LABEL_LEN)) {
        return None;
    }
    core::str::from_utf8(name).ok()
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(src) = b.get(off..off + 4) {
        v.copy_from_slice(src);
    }
    u32::from_ne_bytes(v)
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(src) = b.get(off..off + 8) {
        v.copy_from_slice(src);
    }
    u64::from_ne_bytes(v)
}

fn get_array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut v = [0u8; N];
    if let Some(src) = b.get(off..off + N) {
        v.copy_from_slice(src);
    }
    v
}

fn put_bytes(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(dst) = b.get_mut(off..off + v.len()) {
        dst.copy_from_slice(v);
    }
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    if let Some(dst) = b.get_mut(off..off + 4) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    if let Some(dst) = b.get_mut(off..off + 8) {
        dst.copy_from_slice(&v.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_matched_without_their_size() {
        assert_eq!(Command::of(PVDISK_IOC_SNAPSHOT), Some(Command::Snapshot));
        assert_eq!(Command::of(PVDISK_IOC_INFO), Some(Command::Info));
        assert_eq!(Command::of(iowr(1, 200)), Some(Command::Snapshot));
        assert_eq!(Command::of(iowr(6, SNAPSHOT_SIZE)), None);
        assert_eq!(Command::of(PVDISK_IOC_CREATE), Some(Command::Create));
        assert_eq!(Command::of(iow(4, 500)), Some(Command::Delete));
        assert_eq!(Command::of(PVDISK_IOC_LABEL), Some(Command::Label));
        // Delete and label are write-only: the read-write number is not theirs.
        assert_eq!(Command::of(iowr(4, DELETE_SIZE)), None);
        // Another type byte, or another direction.
        assert_eq!(Command::of(PVDISK_IOC_SNAPSHOT ^ (1 << 8)), None);
        assert_eq!(Command::of(PVDISK_IOC_SNAPSHOT & !(1 << 30)), None);
    }

    #[test]
    fn headers() {
        let ok = Header {
            size: SNAPSHOT_SIZE as u32,
            flags: 0,
        };
        assert_eq!(ok.check(SNAPSHOT_SIZE), Ok(()));
        let short = Header { size: 87, ..ok };
        assert_eq!(short.check(SNAPSHOT_SIZE), Err(ArgError::Invalid));
        let flagged = Header { flags: 1, ..ok };
        assert_eq!(flagged.check(SNAPSHOT_SIZE), Err(ArgError::Invalid));
        let grown = Header { size: 200, ..ok };
        assert_eq!(grown.check(SNAPSHOT_SIZE), Ok(()));
        assert!(tail_is_zero(&[0; 7]));
        assert!(!tail_is_zero(&[0, 0, 1]));
    }

    #[test]
    fn round_trips() {
        let mut label = [0u8; LABEL_LEN];
        label[..3].copy_from_slice(b"abc");
        let s = Snapshot {
            label,
            vdi_id: 7,
            seq: 9,
            log_block: 1234,
            log_index: 8,
            timestamp: 1_700_000_000,
        };
        let h = Header {
            size: SNAPSHOT_SIZE as u32,
            flags: 0,
        };
        let mut b = [0u8; SNAPSHOT_SIZE];
        s.encode(h, &mut b);
        assert_eq!(Header::decode(&b), h);
        assert_eq!(Snapshot::decode(&b), s);
        assert_eq!(s.label(), Some("abc"));

        let mut info = Info {
            flags: PVDISK_INFO_SNAPSHOT,
            vdi_id: 3,
            disk_bytes: 1 << 30,
            snap_count: 4,
            snapshot: 2,
            store_uuid: [5; UUID_LEN],
            name: [0; NAME_LEN],
        };
        info.name[..4].copy_from_slice(b"gold");
        let mut b = [0u8; INFO_SIZE];
        info.encode(h, &mut b);
        assert_eq!(Info::decode(&b), info);

        let c = Create {
            bytes: 1 << 30,
            name: padded(b"clone-1").unwrap(),
            from: padded(b"gold@3").unwrap(),
            vdi_id: 12,
        };
        let mut b = [0u8; CREATE_SIZE];
        c.encode(h, &mut b);
        assert_eq!(Create::decode(&b), c);
        let d = Delete {
            target: padded(b"gold").unwrap(),
        };
        let mut b = [0u8; DELETE_SIZE];
        d.encode(h, &mut b);
        assert_eq!(Delete::decode(&b), d);
        let l = Label {
            snapshot: padded(b"gold@1").unwrap(),
            label: padded(b"v1").unwrap(),
        };
        let mut b = [0u8; LABEL_SIZE];
        l.encode(h, &mut b);
        assert_eq!(Label::decode(&b), l);
    }

    #[test]
    fn specs() {
        assert_eq!(split_spec(b"gold"), (&b"gold"[..], None));
        assert_eq!(split_spec(b"gold@12"), (&b"gold"[..], Some(&b"12"[..])));
        assert_eq!(split_spec(b"a@b@3"), (&b"a@b"[..], Some(&b"3"[..])));
        assert_eq!(split_spec(b"@"), (&b""[..], Some(&b""[..])));
    }

    #[test]
    fn fields() {
        assert_eq!(spec_of(&padded(b"gold@12").unwrap()), Some(&b"gold@12"[..]));
        assert_eq!(spec_of(&[0; SPEC_LEN]), None);
        assert_eq!(spec_of(&[b'a'; SPEC_LEN]), None);
        let mut f: [u8; SPEC_LEN] = padded(b"ab").unwrap();
        f[9] = b'x';
        assert_eq!(spec_of(&f), None);
        assert_eq!(name_of(&padded(b"vm-1").unwrap()), Some(&b"vm-1"[..]));
        assert_eq!(name_of(&[b'a'; NAME_LEN]), Some(&[b'a'; NAME_LEN][..]));
        assert_eq!(name_of(&padded(b"a@1").unwrap()), None);
        assert_eq!(name_of(&[0; NAME_LEN]), None);
        assert_eq!(padded::<4>(b"abcde"), None);
        let flagged = Header {
            size: DELETE_SIZE as u32,
            flags: PVDISK_DELETE_FORCE,
        };
        assert_eq!(
            flagged.check_with(DELETE_SIZE, Command::Delete.known_flags()),
            Ok(())
        );
        assert_eq!(flagged.check(DELETE_SIZE), Err(ArgError::Invalid));
        let unknown = Header {
            flags: 2,
            ..flagged
        };
        assert_eq!(
            unknown.check_with(DELETE_SIZE, Command::Delete.known_flags()),
            Err(ArgError::Invalid)
        );
    }

    #[test]
    fn labels() {
        let field = |s: &[u8]| {
            let mut f = [0u8; LABEL_LEN];
            f[..s.len()].copy_from_slice(s);
            f
        };
        assert_eq!(label_of(&field(b"")), Some(""));
        assert_eq!(
            label_of(&field(b"before-upgrade.1")),
            Some("before-upgrade.1")
        );
        assert_eq!(label_of(&[b'a'; LABEL_LEN]), Some("a".repeat(40).as_str()));
        for bad in [&b"-x"[..], b".", b"..", b"a b", b"a@1", b"a/b", b"\xc3\xa9"] {
            assert_eq!(label_of(&field(bad)), None, "{:?}", bad);
        }
        // Bytes after the NUL.
        let mut f = field(b"ab");
        f[5] = b'c';
        assert_eq!(label_of(&f), None);
    }
}
