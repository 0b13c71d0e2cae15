// SPDX-License-Identifier: GPL-2.0
/*
 * dm_thin_checkpoint: pvdisk_checkpoint's counterpart for dm-thin, for
 * `make bench` (scripts/bench.sh snap). A thin snapshot of an active
 * volume is what `dmsetup suspend THIN`, `dmsetup message POOL 0
 * "create_snap ID ORIGIN"` and `dmsetup resume THIN` do; this program
 * makes the same three device-mapper ioctls (DM_DEV_SUSPEND, DM_TARGET_MSG,
 * DM_DEV_SUSPEND to resume) at a given rate and times the three together,
 * without the start-up of three dmsetup processes.
 *
 *   dm_thin_checkpoint POOL THIN ORIGIN_ID FIRST_ID [-r RATE] [-n COUNT] [-q]
 *
 *   POOL, THIN  device-mapper names of the pool and of the thin volume
 *   ORIGIN_ID   the volume's thin id in the pool
 *   FIRST_ID    thin id of the first snapshot (then FIRST_ID + 1, ...)
 *   -r RATE     snapshots per second (default 10; 0: back to back)
 *   -n COUNT    how many (default 10)
 *   -q          print only the summary
 *
 * Each line: "snapshot ID latency_us US"; last, the summary line of
 * pvdisk_checkpoint: "snapshots N p50_us X p99_us Y max_us Z late L".
 * Exit 1 if a snapshot failed (the volume is resumed first), 2 on bad
 * usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>

#include "checkpoint_timing.h"

/* A dm_ioctl header and room for a target message after it. */
union dm_buf {
	struct dm_ioctl io;
	char bytes[sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) + 128];
};

static void dm_init(union dm_buf *b, const char *name, size_t size)
{
	memset(b, 0, sizeof(*b));
	b->io.version[0] = DM_VERSION_MAJOR;	/* minor 0: any 4.x kernel */
	b->io.data_size = size;
	b->io.data_start = sizeof(struct dm_ioctl);
	snprintf(b->io.name, sizeof(b->io.name), "%s", name);
}

/* Suspend (suspend = 1) or resume the device NAME. */
static int dm_suspend(int ctl, const char *name, int suspend)
{
	union dm_buf b;

	dm_init(&b, name, sizeof(struct dm_ioctl));
	b.io.flags = suspend ? DM_SUSPEND_FLAG : 0;
	return ioctl(ctl, DM_DEV_SUSPEND, &b);
}

/* Send MSG to sector 0 of the device NAME. */
static int dm_message(int ctl, const char *name, const char *msg)
{
	union dm_buf b;
	struct dm_target_msg *m;

	dm_init(&b, name, sizeof(b));
	m = (struct dm_target_msg *)(b.bytes + sizeof(struct dm_ioctl));
	m->sector = 0;
	snprintf(m->message, sizeof(b) - sizeof(struct dm_ioctl) - sizeof(*m), "%s", msg);
	return ioctl(ctl, DM_TARGET_MSG, &b);
}

int main(int argc, char **argv)
{
	unsigned long count = 10, i, late = 0, origin, id;
	double rate = 10;
	const char *pool, *thin;
	uint64_t *lat, period, next;
	int quiet = 0, opt, ctl;

	while ((opt = getopt(argc, argv, "r:n:q")) != -1) {
		switch (opt) {
		case 'r': rate = strtod(optarg, NULL); break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'q': quiet = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 4 || count == 0 || rate < 0)
		goto usage;
	pool = argv[optind];
	thin = argv[optind + 1];
	origin = strtoul(argv[optind + 2], NULL, 0);
	id = strtoul(argv[optind + 3], NULL, 0);
	ctl = open("/dev/mapper/control", O_RDWR);
	if (ctl < 0) {
		fprintf(stderr, "/dev/mapper/control: %s\n", strerror(errno));
		return 2;
	}
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		return 2;
	period = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
	next = now_ns();
	for (i = 0; i < count; i++, id++) {
		char msg[64];
		uint64_t t0;

		snprintf(msg, sizeof(msg), "create_snap %lu %lu", id, origin);
		if (period) {
			if (now_ns() > next + period)
				late++;
			sleep_until(next);
			next += period;
		}
		t0 = now_ns();
		if (dm_suspend(ctl, thin, 1) < 0) {
			fprintf(stderr, "snapshot %lu: suspend %s: %s\n", i + 1, thin, strerror(errno));
			return 1;
		}
		if (dm_message(ctl, pool, msg) < 0) {
			fprintf(stderr, "snapshot %lu: %s: %s\n", i + 1, msg, strerror(errno));
			dm_suspend(ctl, thin, 0);
			return 1;
		}
		if (dm_suspend(ctl, thin, 0) < 0) {
			fprintf(stderr, "snapshot %lu: resume %s: %s\n", i + 1, thin, strerror(errno));
			return 1;
		}
		lat[i] = (now_ns() - t0) / 1000;
		if (!quiet)
			printf("snapshot %lu latency_us %llu\n", id, (unsigned long long)lat[i]);
	}
	qsort(lat, count, sizeof(*lat), cmp_u64);
	printf("snapshots %lu p50_us %llu p99_us %llu max_us %llu late %lu\n", count,
	       (unsigned long long)percentile(lat, count, 50),
	       (unsigned long long)percentile(lat, count, 99),
	       (unsigned long long)lat[count - 1], late);
	return 0;
usage:
	fprintf(stderr, "usage: dm_thin_checkpoint POOL THIN ORIGIN_ID FIRST_ID [-r RATE] [-n COUNT] [-q]\n");
	return 2;
}
