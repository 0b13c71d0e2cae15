// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_prefix: are online snapshots prefixes of what was written?
 *
 *   pvdisk_prefix run DEV -w WRITERS -b BLOCKS -n SNAPS -i MS [-L]
 *       WRITERS threads write 4 KiB blocks stamped (writer, sequence,
 *       LBA, checksum) with O_DIRECT, each sequentially round its own
 *       BLOCKS blocks (writer w owns LBAs w*BLOCKS...). Meanwhile SNAPS
 *       snapshots are taken with PVDISK_IOC_SNAPSHOT every MS ms. For each
 *       one a line "snap SEQ A0 I0 A1 I1 ...": Aw is how many writes of
 *       writer w had been acknowledged when the ioctl began, Iw how many
 *       had been issued when it returned. Last a line "latency_us p50 X
 *       p99 Y max Z" and "writes N". -L takes every other snapshot (the
 *       2nd, 4th, ...) with PVDISK_SNAPSHOT_LAZY: the same promise holds.
 *   pvdisk_prefix verify IMAGE LOG SEQ -w WRITERS -b BLOCKS
 *       checks snapshot SEQ (IMAGE: its export, or a disk showing it)
 *       against its line in LOG: each block is zeros or a valid block of
 *       its own writer and LBA; it holds, for each writer, every write
 *       acknowledged before the ioctl began (that write or a later one of
 *       the same block) and none issued after it returned. Prints
 *       "verified SEQ blocks N violations V" (and the first violations);
 *       exit 1 if V > 0.
 *
 * Exit 2 on bad usage or I/O errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../include/uapi/linux/pvdisk.h"

#define BS 4096
#define MAGIC 0x46505650u /* "PVPF" */
#define MAX_WRITERS 64

struct stamp {
	uint32_t magic;
	uint32_t writer;
	uint64_t seq;
	uint64_t lba;
	uint64_t sum;
};

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void fill(unsigned char *b, uint32_t writer, uint64_t seq, uint64_t lba)
{
	struct stamp st = { MAGIC, writer, seq, lba, 0 };
	uint64_t x = (seq + 1) * 0x9e3779b97f4a7c15ull ^ writer;
	size_t i;

	for (i = sizeof(st); i + 8 <= BS; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, &st, sizeof(st));
	st.sum = fnv(b + sizeof(st), BS - sizeof(st)) ^ fnv((unsigned char *)&st, 24);
	memcpy(b, &st, sizeof(st));
}

/* 1 if b is a valid stamped block (st filled in), 0 if all zero, -1 if
 * neither. */
static int judge(const unsigned char *b, struct stamp *st)
{
	size_t i;

	memcpy(st, b, sizeof(*st));
	if (st->magic == MAGIC &&
	    st->sum == (fnv(b + sizeof(*st), BS - sizeof(*st)) ^ fnv(b, 24)))
		return 1;
	for (i = 0; i < BS; i++)
		if (b[i])
			return -1;
	return 0;
}

static const char *dev;
static unsigned int writers;
static int lazy;
static uint64_t blocks;
static atomic_uint_fast64_t issued[MAX_WRITERS], acked[MAX_WRITERS];
static atomic_int stop, failed;

static void *writer(void *arg)
{
	uint32_t w = (uint32_t)(uintptr_t)arg;
	unsigned char *b;
	uint64_t s;
	int fd = open(dev, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign((void **)&b, BS, BS)) {
		perror(dev);
		atomic_store(&failed, 1);
		return NULL;
	}
	for (s = 0; !atomic_load(&stop); s++) {
		uint64_t lba = w * blocks + s % blocks;

		fill(b, w, s, lba);
		atomic_store(&issued[w], s + 1);
		if (pwrite(fd, b, BS, (off_t)(lba * BS)) != BS) {
			perror("pwrite");
			atomic_store(&failed, 1);
			break;
		}
		atomic_store(&acked[w], s + 1);
	}
	close(fd);
	free(b);
	return NULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run(unsigned int snaps, unsigned int interval_ms)
{
	pthread_t t[MAX_WRITERS];
	uint64_t *lat = calloc(snaps ? snaps : 1, sizeof(*lat)), total = 0;
	unsigned int i, w;
	int fd = open(dev, O_RDWR);

	if (fd < 0 || !lat) {
		perror(dev);
		return 2;
	}
	for (w = 0; w < writers; w++)
		pthread_create(&t[w], NULL, writer, (void *)(uintptr_t)w);
	for (i = 0; i < snaps && !atomic_load(&failed); i++) {
		struct pvdisk_snapshot s = { .size = sizeof(s) };
		uint64_t before[MAX_WRITERS], t0;

		if (lazy && i % 2)
			s.flags = PVDISK_SNAPSHOT_LAZY;

		usleep(interval_ms * 1000);
		for (w = 0; w < writers; w++)
			before[w] = atomic_load(&acked[w]);
		t0 = now_us();
		if (ioctl(fd, PVDISK_IOC_SNAPSHOT, &s) < 0) {
			perror("PVDISK_IOC_SNAPSHOT");
			atomic_store(&failed, 1);
			break;
		}
		lat[i] = now_us() - t0;
		printf("snap %llu", (unsigned long long)s.seq);
		for (w = 0; w < writers; w++)
			printf(" %llu %llu", (unsigned long long)before[w],
			       (unsigned long long)atomic_load(&issued[w]));
		printf("\n");
	}
	atomic_store(&stop, 1);
	for (w = 0; w < writers; w++) {
		pthread_join(t[w], NULL);
		total += atomic_load(&acked[w]);
	}
	if (atomic_load(&failed))
		return 2;
	qsort(lat, snaps, sizeof(*lat), cmp_u64);
	printf("latency_us p50 %llu p99 %llu max %llu\n",
	       (unsigned long long)lat[snaps / 2],
	       (unsigned long long)lat[(snaps * 99) / 100 < snaps ? (snaps * 99) / 100 : snaps - 1],
	       (unsigned long long)lat[snaps - 1]);
	printf("writes %llu\n", (unsigned long long)total);
	return 0;
}

static int read_line(const char *log, unsigned long long seq, uint64_t *before, uint64_t *after)
{
	char line[8192];
	FILE *f = fopen(log, "r");

	if (!f) {
		perror(log);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long n;
		char *p = line;
		int used;
		unsigned int w;

		if (sscanf(p, "snap %llu%n", &n, &used) != 1 || n != seq)
			continue;
		p += used;
		for (w = 0; w < writers; w++) {
			unsigned long long a, b;

			if (sscanf(p, " %llu %llu%n", &a, &b, &used) != 2)
				break;
			before[w] = a;
			after[w] = b;
			p += used;
		}
		fclose(f);
		return w == writers ? 0 : -1;
	}
	fclose(f);
	return -1;
}

static int verify(const char *image, const char *log, unsigned long long seq)
{
	uint64_t before[MAX_WRITERS], after[MAX_WRITERS], n = 0, bad = 0;
	unsigned char *b;
	unsigned int w;
	int fd = open(image, O_RDONLY);

	if (fd < 0 || read_line(log, seq, before, after) || posix_memalign((void **)&b, BS, BS)) {
		fprintf(stderr, "verify: cannot read %s or snapshot %llu in %s\n", image, seq, log);
		return 2;
	}
	for (w = 0; w < writers; w++) {
		uint64_t slot;

		for (slot = 0; slot < blocks; slot++) {
			uint64_t lba = w * blocks + slot;
			struct stamp st;
			const char *why = NULL;
			int kind;

			if (pread(fd, b, BS, (off_t)(lba * BS)) != BS) {
				perror("pread");
				return 2;
			}
			n++;
			kind = judge(b, &st);
			/* The last write of this block acknowledged in time. */
			if (kind < 0)
				why = "neither zeros nor a valid block";
			else if (kind && (st.writer != w || st.lba != lba || st.seq % blocks != slot))
				why = "a block of another writer or LBA";
			else if (kind && st.seq >= after[w])
				why = "holds a write issued after the ioctl returned";
			else if (before[w] > slot &&
				 (!kind || st.seq < slot + (before[w] - 1 - slot) / blocks * blocks))
				why = "misses a write acknowledged before the ioctl";
			if (why && bad++ < 10)
				printf("snapshot %llu: writer %u LBA %llu: %s (seq %lld; acked %llu issued %llu)\n",
				       seq, w, (unsigned long long)lba, why,
				       kind > 0 ? (long long)st.seq : -1LL,
				       (unsigned long long)before[w], (unsigned long long)after[w]);
		}
	}
	printf("verified %llu blocks %llu violations %llu\n", seq, (unsigned long long)n,
	       (unsigned long long)bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned int snaps = 10, interval = 100;
	const char *mode = argc > 1 ? argv[1] : "";
	int opt, pos;

	writers = 4;
	blocks = 1024;
	pos = 2;
	if (!strcmp(mode, "run"))
		pos = 3;
	else if (!strcmp(mode, "verify"))
		pos = 5;
	else
		goto usage;
	if (argc < pos)
		goto usage;
	optind = pos;
	while ((opt = getopt(argc, argv, "w:b:n:i:L")) != -1) {
		switch (opt) {
		case 'w': writers = strtoul(optarg, NULL, 0); break;
		case 'b': blocks = strtoull(optarg, NULL, 0); break;
		case 'n': snaps = strtoul(optarg, NULL, 0); break;
		case 'i': interval = strtoul(optarg, NULL, 0); break;
		case 'L': lazy = 1; break;
		default: goto usage;
		}
	}
	if (!writers || writers > MAX_WRITERS || !blocks || optind != argc)
		goto usage;
	if (!strcmp(mode, "run")) {
		dev = argv[2];
		if (!snaps)
			goto usage;
		return run(snaps, interval);
	}
	return verify(argv[2], argv[3], strtoull(argv[4], NULL, 0));
usage:
	fprintf(stderr, "usage: pvdisk_prefix run DEV [-w W] [-b B] [-n SNAPS] [-i MS] [-L]\n"
			"       pvdisk_prefix verify IMAGE LOG SEQ [-w W] [-b B]\n");
	return 2;
}
