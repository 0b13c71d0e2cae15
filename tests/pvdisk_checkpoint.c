// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_checkpoint: what checkpointing software does with pvdisk. It
 * holds /dev/pvdiskN open and takes snapshots with PVDISK_IOC_SNAPSHOT at
 * a given rate while the VM (or anything else) keeps writing, and prints
 * each snapshot's name and how long the call took.
 *
 *   pvdisk_checkpoint DEV [-r RATE] [-n COUNT] [-t SECONDS] [-l LABEL] [-q] [-L]
 *
 *   -r RATE   snapshots per second (default 10; 0: back to back)
 *   -n COUNT  how many (default 10)
 *   -t SECS   stop after this long even if fewer were taken (exit 3)
 *   -l LABEL  label the snapshots LABEL-1, LABEL-2, ...
 *   -q        print only the summary
 *   -L        lazy snapshots (PVDISK_SNAPSHOT_LAZY): return once the
 *             snapshot is in the tree, durable at the disk's next commit
 *
 * Each line: "snapshot VDI_ID@SEQ log BLOCK.INDEX latency_us US"; last,
 * "snapshots N p50_us X p99_us Y max_us Z late L" (L: snapshots started
 * behind schedule because the previous ones took longer than the
 * period). Exit 1 if a snapshot failed, 2 on bad usage, 3 if the time
 * ran out first.
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

#include "../include/uapi/linux/pvdisk.h"

#include "checkpoint_timing.h"

int main(int argc, char **argv)
{
	unsigned long count = 10, i, late = 0;
	double rate = 10, limit = 0;
	const char *label = NULL;
	uint64_t *lat, period, next, start, deadline;
	int quiet = 0, lazy = 0, opt, fd;

	while ((opt = getopt(argc, argv, "r:n:t:l:qL")) != -1) {
		switch (opt) {
		case 'r': rate = strtod(optarg, NULL); break;
		case 't': limit = strtod(optarg, NULL); break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'l': label = optarg; break;
		case 'q': quiet = 1; break;
		case 'L': lazy = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || count == 0 || rate < 0)
		goto usage;
	fd = open(argv[optind], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		return 2;
	period = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
	next = start = now_ns();
	deadline = limit > 0 ? start + (uint64_t)(limit * 1e9) : UINT64_MAX;
	for (i = 0; i < count && now_ns() < deadline; i++) {
		struct pvdisk_snapshot s = { .size = sizeof(s) };
		uint64_t t0;

		if (lazy)
			s.flags = PVDISK_SNAPSHOT_LAZY;
		if (label)
			snprintf(s.label, sizeof(s.label), "%s-%lu", label, i + 1);
		if (period) {
			if (now_ns() > next + period)
				late++;
			sleep_until(next);
			next += period;
		}
		t0 = now_ns();
		if (ioctl(fd, PVDISK_IOC_SNAPSHOT, &s) < 0) {
			fprintf(stderr, "snapshot %lu: %s\n", i + 1, strerror(errno));
			return 1;
		}
		lat[i] = (now_ns() - t0) / 1000;
		if (!quiet)
			printf("snapshot %llu@%llu log %llu.%u latency_us %llu\n",
			       (unsigned long long)s.vdi_id, (unsigned long long)s.seq,
			       (unsigned long long)s.log_block, s.log_index,
			       (unsigned long long)lat[i]);
	}
	if (i == 0) {
		fprintf(stderr, "no snapshot within %g s\n", limit);
		return 3;
	}
	qsort(lat, i, sizeof(*lat), cmp_u64);
	printf("snapshots %lu p50_us %llu p99_us %llu max_us %llu late %lu\n", i,
	       (unsigned long long)percentile(lat, i, 50),
	       (unsigned long long)percentile(lat, i, 99),
	       (unsigned long long)lat[i - 1], late);
	if (i < count) {
		fprintf(stderr, "time ran out after %lu of %lu snapshots (%g s)\n", i, count, limit);
		return 3;
	}
	return 0;
usage:
	fprintf(stderr, "usage: pvdisk_checkpoint DEV [-r RATE] [-n COUNT] [-t SECS] [-l LABEL] [-q] [-L]\n");
	return 2;
}
