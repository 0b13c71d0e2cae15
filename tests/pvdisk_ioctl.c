// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_ioctl: the ioctls of /dev/pvdiskN as the tests call them.
 *
 *   pvdisk_ioctl snapshot DEV [LABEL [lazy]]
 *          print "seq N vdi ID log BLOCK.INDEX time T" or "err ENAME";
 *          "lazy" sets PVDISK_SNAPSHOT_LAZY
 *   pvdisk_ioctl fsync DEV
 *          fsync(2) the disk (a flush: its commit): "ok" or "err ENAME"
 *   pvdisk_ioctl info DEV
 *          print the fields of PVDISK_IOC_INFO, one "key value" a line,
 *          or "err ENAME"
 *   pvdisk_ioctl create DEV NAME BYTES [FROM]
 *          PVDISK_IOC_CREATE on DEV's store (an empty VDI, or a clone of
 *          snapshot FROM with BYTES 0 for its size): "vdi ID" or "err ENAME"
 *   pvdisk_ioctl delete DEV TARGET [force]
 *          PVDISK_IOC_DELETE: "ok" or "err ENAME"
 *   pvdisk_ioctl label DEV SNAPSHOT LABEL
 *          PVDISK_IOC_LABEL: "ok" or "err ENAME"
 *   pvdisk_ioctl bad DEV CASE
 *          one refused call; print "err ENAME" (or "ok" if it was not
 *          refused). CASE: short, flags, tail, grown (a larger struct,
 *          zero beyond: must work), badlabel, badpad, unknown, rdonly
 *          (descriptor open read-only), noperm (after dropping to an
 *          unprivileged user), info-short, manage-noperm (a label
 *          call after dropping privileges), delete-flags (an unknown
 *          delete flag), delete-badspec (not NUL-padded), create-badname
 *          (a name the naming rule refuses)
 *
 * Exit 0 whenever the call could be made: the caller judges the result;
 * 2 on bad usage or when DEV cannot be opened.
 *
 * scripts/vm.sh builds it twice: 64-bit, and with -m32 as pvdisk_ioctl32,
 * a 32-bit program whose calls reach the driver through compat_ioctl. The
 * assertions below hold for both builds, so both use the layouts and the
 * command numbers of Documentation/ioctl.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../include/uapi/linux/pvdisk.h"

#define SIZE(type, n) \
	_Static_assert(sizeof(struct type) == (n), "sizeof(struct " #type ") is not " #n)
#define AT(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field " is not at " #off)
#define CMD(cmd, n) _Static_assert((cmd) == (n), #cmd " is not " #n)

SIZE(pvdisk_snapshot, 88);
AT(pvdisk_snapshot, size, 0);
AT(pvdisk_snapshot, flags, 4);
AT(pvdisk_snapshot, label, 8);
AT(pvdisk_snapshot, vdi_id, 48);
AT(pvdisk_snapshot, seq, 56);
AT(pvdisk_snapshot, log_block, 64);
AT(pvdisk_snapshot, log_index, 72);
AT(pvdisk_snapshot, reserved, 76);
AT(pvdisk_snapshot, timestamp, 80);

SIZE(pvdisk_info, 128);
AT(pvdisk_info, size, 0);
AT(pvdisk_info, flags, 4);
AT(pvdisk_info, info_flags, 8);
AT(pvdisk_info, reserved, 12);
AT(pvdisk_info, vdi_id, 16);
AT(pvdisk_info, disk_bytes, 24);
AT(pvdisk_info, snap_count, 32);
AT(pvdisk_info, snapshot, 40);
AT(pvdisk_info, store_uuid, 48);
AT(pvdisk_info, name, 64);

SIZE(pvdisk_create, 200);
AT(pvdisk_create, size, 0);
AT(pvdisk_create, flags, 4);
AT(pvdisk_create, bytes, 8);
AT(pvdisk_create, name, 16);
AT(pvdisk_create, from, 80);
AT(pvdisk_create, vdi_id, 192);

SIZE(pvdisk_delete, 120);
AT(pvdisk_delete, size, 0);
AT(pvdisk_delete, flags, 4);
AT(pvdisk_delete, target, 8);

SIZE(pvdisk_label, 160);
AT(pvdisk_label, size, 0);
AT(pvdisk_label, flags, 4);
AT(pvdisk_label, snapshot, 8);
AT(pvdisk_label, label, 120);

/* _IOWR or _IOW, the size, 0xD7, the number */
CMD(PVDISK_IOC_SNAPSHOT, 0xc058d701u);
CMD(PVDISK_IOC_INFO, 0xc080d702u);
CMD(PVDISK_IOC_CREATE, 0xc0c8d703u);
CMD(PVDISK_IOC_DELETE, 0x4078d704u);
CMD(PVDISK_IOC_LABEL, 0x40a0d705u);

static const char *errname(int e)
{
	switch (e) {
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBUSY: return "EBUSY";
	case ENOTTY: return "ENOTTY";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case EEXIST: return "EEXIST";
	case E2BIG: return "E2BIG";
	case EFAULT: return "EFAULT";
	case ENOENT: return "ENOENT";
	case ENOTEMPTY: return "ENOTEMPTY";
	default: return "EOTHER";
	}
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* Copies text into a NUL-padded field of n bytes (it may fill it). */
static void pad(char *field, size_t n, const char *text)
{
	memset(field, 0, n);
	memcpy(field, text, strnlen(text, n));
}

static void set_label(struct pvdisk_snapshot *s, const char *label)
{
	pad(s->label, sizeof(s->label), label);
}

static int snapshot(const char *dev, const char *label, int lazy)
{
	struct pvdisk_snapshot s = { .size = sizeof(s) };
	int fd = open_dev(dev, O_RDWR);

	if (lazy)
		s.flags = PVDISK_SNAPSHOT_LAZY;
	set_label(&s, label);
	if (ioctl(fd, PVDISK_IOC_SNAPSHOT, &s) < 0) {
		printf("err %s\n", errname(errno));
		return 0;
	}
	printf("seq %llu vdi %llu log %llu.%u time %llu\n",
	       (unsigned long long)s.seq, (unsigned long long)s.vdi_id,
	       (unsigned long long)s.log_block, s.log_index,
	       (unsigned long long)s.timestamp);
	return 0;
}

static int info(const char *dev)
{
	struct pvdisk_info in = { .size = sizeof(in) };
	int fd = open_dev(dev, O_RDONLY);
	int i;

	if (ioctl(fd, PVDISK_IOC_INFO, &in) < 0) {
		printf("err %s\n", errname(errno));
		return 0;
	}
	printf("name %.*s\n", (int)sizeof(in.name), in.name);
	printf("vdi_id %llu\n", (unsigned long long)in.vdi_id);
	printf("disk_bytes %llu\n", (unsigned long long)in.disk_bytes);
	printf("snap_count %llu\n", (unsigned long long)in.snap_count);
	printf("snapshot %llu\n", (unsigned long long)in.snapshot);
	printf("read_only %u\n", in.info_flags & PVDISK_INFO_SNAPSHOT ? 1 : 0);
	printf("uuid ");
	for (i = 0; i < PVDISK_UUID_LEN; i++)
		printf("%02x", in.store_uuid[i]);
	printf("\n");
	return 0;
}

static int result(int ret)
{
	if (ret < 0)
		printf("err %s\n", errname(errno));
	else
		printf("ok\n");
	return 0;
}

static int create(const char *dev, const char *name, const char *bytes,
		  const char *from)
{
	struct pvdisk_create c = { .size = sizeof(c) };
	int fd = open_dev(dev, O_RDONLY);

	c.bytes = strtoull(bytes, NULL, 0);
	pad(c.name, sizeof(c.name), name);
	if (from)
		pad(c.from, sizeof(c.from) - 1, from);
	if (ioctl(fd, PVDISK_IOC_CREATE, &c) < 0) {
		printf("err %s\n", errname(errno));
		return 0;
	}
	printf("vdi %llu\n", (unsigned long long)c.vdi_id);
	return 0;
}

static int delete(const char *dev, const char *target, int force)
{
	struct pvdisk_delete d = { .size = sizeof(d) };
	int fd = open_dev(dev, O_RDONLY);

	d.flags = force ? PVDISK_DELETE_FORCE : 0;
	pad(d.target, sizeof(d.target) - 1, target);
	return result(ioctl(fd, PVDISK_IOC_DELETE, &d));
}

static int label(const char *dev, const char *snapshot, const char *label)
{
	struct pvdisk_label l = { .size = sizeof(l) };
	int fd = open_dev(dev, O_RDONLY);

	pad(l.snapshot, sizeof(l.snapshot) - 1, snapshot);
	pad(l.label, sizeof(l.label), label);
	return result(ioctl(fd, PVDISK_IOC_LABEL, &l));
}

/* A struct larger than ours, for the grown and tail cases. */
struct grown {
	struct pvdisk_snapshot s;
	uint64_t more[4];
};

static int bad(const char *dev, const char *what)
{
	struct grown g;
	struct pvdisk_info in = { .size = sizeof(in) };
	struct pvdisk_label l = { .size = sizeof(l) };
	struct pvdisk_delete d = { .size = sizeof(d) };
	struct pvdisk_create c = { .size = sizeof(c), .bytes = 1 << 20 };
	unsigned long cmd = PVDISK_IOC_SNAPSHOT;
	void *arg = &g;
	int fd, ret;

	memset(&g, 0, sizeof(g));
	g.s.size = sizeof(g.s);
	fd = open_dev(dev, strcmp(what, "rdonly") ? O_RDWR : O_RDONLY);
	if (!strcmp(what, "short")) {
		g.s.size = sizeof(g.s) - 8;
	} else if (!strcmp(what, "flags")) {
		g.s.flags = 1u << 31;	/* not a PVDISK_SNAPSHOT_* flag */
	} else if (!strcmp(what, "tail")) {
		g.s.size = sizeof(g);
		g.more[3] = 1;
	} else if (!strcmp(what, "grown")) {
		g.s.size = sizeof(g);
	} else if (!strcmp(what, "badlabel")) {
		set_label(&g.s, "a b");
	} else if (!strcmp(what, "badpad")) {
		/* A NUL, then more bytes: not a padded label. */
		set_label(&g.s, "ab");
		g.s.label[5] = 'c';
	} else if (!strcmp(what, "unknown")) {
		cmd = _IOWR(PVDISK_IOC_MAGIC, 0x7f, struct pvdisk_snapshot);
	} else if (!strcmp(what, "rdonly")) {
		/* opened read-only above */
	} else if (!strcmp(what, "noperm")) {
		if (setgid(65534) || setuid(65534)) {
			fprintf(stderr, "cannot drop privileges: %s\n", strerror(errno));
			return 2;
		}
	} else if (!strcmp(what, "manage-noperm")) {
		if (setgid(65534) || setuid(65534)) {
			fprintf(stderr, "cannot drop privileges: %s\n", strerror(errno));
			return 2;
		}
		strcpy(l.snapshot, "x@1");
		strcpy(l.label, "y");
		cmd = PVDISK_IOC_LABEL;
		arg = &l;
	} else if (!strcmp(what, "delete-flags")) {
		d.flags = 2;
		strcpy(d.target, "x");
		cmd = PVDISK_IOC_DELETE;
		arg = &d;
	} else if (!strcmp(what, "delete-badspec")) {
		memset(d.target, 'a', sizeof(d.target));
		cmd = PVDISK_IOC_DELETE;
		arg = &d;
	} else if (!strcmp(what, "create-badname")) {
		strcpy(c.name, "a/b");
		cmd = PVDISK_IOC_CREATE;
		arg = &c;
	} else if (!strcmp(what, "info-short")) {
		in.size = 8;
		cmd = PVDISK_IOC_INFO;
		arg = &in;
	} else {
		fprintf(stderr, "unknown case %s\n", what);
		return 2;
	}
	ret = ioctl(fd, cmd, arg);
	if (ret < 0)
		printf("err %s\n", errname(errno));
	else
		printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "snapshot"))
		return snapshot(argv[2], argc > 3 ? argv[3] : "",
				argc > 4 && !strcmp(argv[4], "lazy"));
	if (argc == 3 && !strcmp(argv[1], "fsync"))
		return result(fsync(open_dev(argv[2], O_RDWR)));
	if (argc == 3 && !strcmp(argv[1], "info"))
		return info(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "bad"))
		return bad(argv[2], argv[3]);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "create"))
		return create(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "delete"))
		return delete(argv[2], argv[3], argc == 5 && !strcmp(argv[4], "force"));
	if (argc == 5 && !strcmp(argv[1], "label"))
		return label(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: pvdisk_ioctl snapshot DEV [LABEL [lazy]] | fsync DEV | info DEV | "
		"create DEV NAME BYTES [FROM] | delete DEV TARGET [force] | "
		"label DEV SNAPSHOT LABEL | bad DEV CASE\n");
	return 2;
}
