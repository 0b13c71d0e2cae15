// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_fdop: what a program holding a block device open does, for the
 * teardown tests, on a file descriptor the calling shell opened:
 *
 *   pvdisk_fdop FD OP      OP: getsize64 | flsbuf | unknown | read | write
 *   pvdisk_fdop openloop PATH
 *                          open and close PATH until killed; print how
 *                          many opens succeeded and failed (SIGTERM)
 *
 * An FD operation prints "ok" or "err ENAME" and exits 0: the caller judges
 * the errno. It exits 2 on bad usage only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* An ioctl no block driver knows: an unused type letter and number. */
#define UNKNOWN_IOCTL _IO(0xb7, 0x7f)

static const char *errname(int e)
{
	switch (e) {
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case EBUSY: return "EBUSY";
	case ENOTTY: return "ENOTTY";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	default: return "EOTHER";
	}
}

static int report(int ret)
{
	if (ret < 0)
		printf("err %s\n", errname(errno));
	else
		printf("ok\n");
	return 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int open_loop(const char *path)
{
	unsigned long ok = 0, failed = 0;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop) {
		int fd = open(path, O_RDWR);

		if (fd < 0) {
			failed++;
			continue;
		}
		ok++;
		close(fd);
	}
	printf("opens ok %lu failed %lu\n", ok, failed);
	return 0;
}

int main(int argc, char **argv)
{
	static char buf[4096] __attribute__((aligned(4096)));
	unsigned long long size;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "openloop"))
		return open_loop(argv[2]);
	if (argc != 3) {
		fprintf(stderr, "usage: pvdisk_fdop FD OP | openloop PATH\n");
		return 2;
	}
	fd = atoi(argv[1]);
	if (!strcmp(argv[2], "getsize64"))
		return report(ioctl(fd, BLKGETSIZE64, &size));
	if (!strcmp(argv[2], "flsbuf"))
		return report(ioctl(fd, BLKFLSBUF, 0));
	if (!strcmp(argv[2], "unknown"))
		return report(ioctl(fd, UNKNOWN_IOCTL, 0));
	if (!strcmp(argv[2], "read"))
		return report(pread(fd, buf, sizeof(buf), 0) == sizeof(buf) ? 0 : -1);
	if (!strcmp(argv[2], "write")) {
		memset(buf, 0x5a, sizeof(buf));
		return report(pwrite(fd, buf, sizeof(buf), 0) == sizeof(buf) ? 0 : -1);
	}
	fprintf(stderr, "pvdisk_fdop: unknown operation %s\n", argv[2]);
	return 2;
}
