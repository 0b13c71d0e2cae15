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

/*
 * PVDISK_IOC_SNAPSHOT: snapshot the disk's VDI without pausing its I/O.
 * Every write that completed before the call is in the snapshot, none
 * issued after it returned is, and a write in flight is wholly in or out
 * for each 4 KiB block. The snapshot is durable when the call returns.
 * Needs CAP_SYS_ADMIN and a descriptor open for writing.
 */
struct pvdisk_snapshot {
	__u32 size;			/* in: sizeof(struct pvdisk_snapshot) */
	__u32 flags;			/* in: 0 */
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

#define PVDISK_IOC_SNAPSHOT	_IOWR(PVDISK_IOC_MAGIC, 1, struct pvdisk_snapshot)
#define PVDISK_IOC_INFO		_IOWR(PVDISK_IOC_MAGIC, 2, struct pvdisk_info)

#endif /* _UAPI_LINUX_PVDISK_H */
