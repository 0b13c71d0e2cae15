/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pvdisk: copy-on-write virtual disks on one shared block device.
 *
 * ioctls of /dev/pvdiskN. See Documentation/ioctl.rst for the promises
 * they make; drivers/block/pvdisk/uapi.rs is the Rust twin of this file
 * (a test compares the two).
 *
 * Every argument struct starts with its size and a flags word so that it
 * can grow: set size to sizeof the struct you were built with and flags
 * to 0. A size below the first version's, or an unknown flag, is EINVAL;
 * a larger size works as long as every byte the driver does not know is
 * zero (E2BIG otherwise). The driver matches the commands without their
 * size bits. The layout is the same for 32-bit and 64-bit callers.
 */
#ifndef _UAPI_LINUX_PVDISK_H
#define _UAPI_LINUX_PVDISK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PVDISK_IOC_MAGIC	0xD7

#define PVDISK_LABEL_LEN	40
#define PVDISK_NAME_LEN		64
#define PVDISK_UUID_LEN		16
#define PVDISK_SPEC_LEN		112	/* a VDI name, a label or VDI@N */

/*
 * PVDISK_IOC_SNAPSHOT: snapshot the disk's VDI without pausing its I/O.
 * Every write that completed before the call is in the snapshot, none
 * issued after it returned is, and a write in flight is wholly in or out
 * for each 4 KiB block. The snapshot is durable when the call returns;
 * with PVDISK_SNAPSHOT_LAZY it returns as soon as it is in the disk's
 * tree, and becomes durable with the disk's next commit (a flush, a FUA
 * write, or within a second): a crash before that loses it whole.
 * Needs CAP_SYS_ADMIN and a descriptor open for writing.
 */
#define PVDISK_SNAPSHOT_LAZY	(1U << 0)	/* pvdisk_snapshot.flags */

struct pvdisk_snapshot {
	__u32 size;			/* in: sizeof(struct pvdisk_snapshot) */
	__u32 flags;			/* in: PVDISK_SNAPSHOT_* */
	char label[PVDISK_LABEL_LEN];	/* in: NUL-padded, "" for none */
	__u64 vdi_id;			/* out: id of the VDI */
	__u64 seq;			/* out: the snapshot is VDI@seq */
	__u64 log_block;		/* out: snapshot-log block of its entry */
	__u32 log_index;		/* out: the entry's index in that block */
	__u32 reserved;			/* out: 0 */
	__u64 timestamp;		/* out: seconds since the epoch */
};

/* pvdisk_info.info_flags */
#define PVDISK_INFO_SNAPSHOT	(1U << 0)	/* a read-only snapshot disk */

/* PVDISK_IOC_INFO: what the disk shows. Any opener may ask. */
struct pvdisk_info {
	__u32 size;			/* in: sizeof(struct pvdisk_info) */
	__u32 flags;			/* in: 0 */
	__u32 info_flags;		/* out: PVDISK_INFO_* */
	__u32 reserved;			/* out: 0 */
	__u64 vdi_id;			/* out: id of the VDI */
	__u64 disk_bytes;		/* out: size of the disk */
	__u64 snap_count;		/* out: snapshots taken of the VDI */
	__u64 snapshot;			/* out: N for snapshot VDI@N, else 0 */
	__u8 store_uuid[PVDISK_UUID_LEN];	/* out */
	char name[PVDISK_NAME_LEN];	/* out: VDI name, NUL-padded */
};

/*
 * Live management of the store that the disk is powered from (any disk
 * of the store will do, a read-only one too): the driver makes the change
 * and commits it before the call returns, so the tool never writes the
 * metadata of a store in use. Each needs CAP_SYS_ADMIN. Names and labels
 * follow the tool's rule (1 to 64 or 40 bytes of A-Z a-z 0-9 + _ . -,
 * not starting with '-'); a snapshot is named by its label or as VDI@N.
 */

/*
 * PVDISK_IOC_CREATE: a new VDI: empty (from = "", bytes > 0) or a
 * writable clone of snapshot `from` (bytes = 0 for the snapshot's size).
 * EEXIST if the name is in use, ENOENT if `from` names no live snapshot,
 * ENOSPC if the registry or the store is full.
 */
struct pvdisk_create {
	__u32 size;			/* in: sizeof(struct pvdisk_create) */
	__u32 flags;			/* in: 0 */
	__u64 bytes;			/* in: size of the VDI, a multiple of 4096 */
	char name[PVDISK_NAME_LEN];	/* in: NUL-padded */
	char from[PVDISK_SPEC_LEN];	/* in: NUL-padded, "" for an empty VDI */
	__u64 vdi_id;			/* out: id of the new VDI */
};

/* pvdisk_delete.flags */
#define PVDISK_DELETE_FORCE	(1U << 0)	/* a VDI with snapshots or clones */

/*
 * PVDISK_IOC_DELETE: delete a VDI (with its snapshots) or one snapshot;
 * `pvdisk gc` reclaims the space once no disk of the store is powered.
 * EBUSY if a powered disk shows the VDI or the snapshot (or, for a VDI,
 * any of its snapshots); ENOTEMPTY for a VDI that has live snapshots or
 * clones, unless PVDISK_DELETE_FORCE.
 */
struct pvdisk_delete {
	__u32 size;			/* in: sizeof(struct pvdisk_delete) */
	__u32 flags;			/* in: PVDISK_DELETE_* */
	char target[PVDISK_SPEC_LEN];	/* in: VDI name, label or VDI@N */
};

/*
 * PVDISK_IOC_LABEL: set or replace the label of a snapshot. EEXIST if
 * another VDI or snapshot has that name.
 */
struct pvdisk_label {
	__u32 size;			/* in: sizeof(struct pvdisk_label) */
	__u32 flags;			/* in: 0 */
	char snapshot[PVDISK_SPEC_LEN];	/* in: label or VDI@N */
	char label[PVDISK_LABEL_LEN];	/* in: the new label */
};

#define PVDISK_IOC_SNAPSHOT	_IOWR(PVDISK_IOC_MAGIC, 1, struct pvdisk_snapshot)
#define PVDISK_IOC_INFO		_IOWR(PVDISK_IOC_MAGIC, 2, struct pvdisk_info)
#define PVDISK_IOC_CREATE	_IOWR(PVDISK_IOC_MAGIC, 3, struct pvdisk_create)
#define PVDISK_IOC_DELETE	_IOW(PVDISK_IOC_MAGIC, 4, struct pvdisk_delete)
#define PVDISK_IOC_LABEL	_IOW(PVDISK_IOC_MAGIC, 5, struct pvdisk_label)

#endif /* _UAPI_LINUX_PVDISK_H */
