// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_stamp: the workload of a guest running on /dev/pvdiskN, and its
 * checker. It runs inside a nested QEMU guest (scripts/guest.sh), on the
 * guest's virtio disk, and as well directly on a pvdisk disk.
 *
 *   pvdisk_stamp write DEV [-b BLOCKS] [-q DEPTH] [-t SECS] [-n COUNT]
 *                          [-f FSYNC] [-p SECS]
 *       Block 0 gets a header (magic, a random run id, BLOCKS, DEPTH),
 *       then writes with sequence numbers 1, 2, 3, ... go to the data
 *       blocks 1..BLOCKS-1 in a fixed scattered order (every BLOCKS-1
 *       consecutive writes hit distinct blocks). Each 4 KiB block carries
 *       (run, sequence number, LBA, checksum of the whole block) and is
 *       written with O_DIRECT. Writes go in batches of DEPTH (default 4)
 *       issued at once by DEPTH threads; the next batch starts when the
 *       whole batch has completed, so at any moment at most one batch is
 *       in flight. fsync every FSYNC batches (default 16). Stops after
 *       SECS seconds (default 30), COUNT writes or SIGTERM (the batch in
 *       flight completes first). A progress line every
 *       -p seconds (default 2): "stamp: seq N writes/s R fsyncs F";
 *       last, "stamp: done seq N secs T writes/s R fsyncs F".
 *   pvdisk_stamp verify DEV
 *       Reads the header and every data block and checks that DEV holds
 *       exactly a prefix of the writes: with M the highest sequence
 *       number found, every write of the batches before M's holds its
 *       block (or a later write of the same block does), each write of
 *       M's batch (the one that may have been in flight at the cut) is
 *       wholly there or its block wholly holds what it held before, and
 *       no block holds anything else (torn, wrong LBA, another run,
 *       garbage). Prints "stamp: verified blocks N written W prefix S
 *       max M window K/DEPTH violations V" (S: the highest sequence
 *       number such that every write up to it is there; K: how many of
 *       the last batch's writes are there) and the first violations.
 *
 * Exit status: 0 ok, 1 violations, 2 usage or I/O errors.
 *
 * As a nested guest's /init (process 1, no arguments) it mounts /dev and
 * /proc, prints "GUEST-BOOTED: uptime U", runs "pvdisk_stamp ARGS
 * /dev/vda" with the ARGS of the kernel argument pvguest=write,-t,30
 * (commas for spaces; the kernel passes it to /init in the environment),
 * prints "GUEST-RESULT: rc=N uptime U" and powers the guest off. One
 * program and no shell: every exec costs seconds in a nested TCG guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define HDR_MAGIC 0x5244485453565650ull /* "PVVSTHDR" */
#define BLK_MAGIC 0x4b4c425453565650ull /* "PVVSTBLK" */
#define MAX_DEPTH 64

struct stamp {
	uint64_t magic;
	uint64_t run;
	uint64_t seq;	/* header: the data blocks' count */
	uint64_t lba;	/* header: the batch size (DEPTH) */
	uint64_t sum;	/* fnv of the block with this field zero */
};

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t block_sum(const unsigned char *b)
{
	static const unsigned char zero[8];
	uint64_t h = 0xcbf29ce484222325ull;
	size_t off = offsetof(struct stamp, sum);

	h = fnv(b, off, h);
	h = fnv(zero, 8, h);
	return fnv(b + off + 8, BS - off - 8, h);
}

static void fill(unsigned char *b, uint64_t magic, uint64_t run, uint64_t seq, uint64_t lba)
{
	struct stamp st = { magic, run, seq, lba, 0 };
	uint64_t x = (seq + 1) * 0x9e3779b97f4a7c15ull ^ run;
	size_t i;

	for (i = sizeof(st); i + 8 <= BS; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(b + i, &x, 8);
	}
	memcpy(b, &st, sizeof(st));
	st.sum = block_sum(b);
	memcpy(b, &st, sizeof(st));
}

/* 1: a whole block with this magic (st filled in); 0: all zero; -1: neither. */
static int judge(const unsigned char *b, uint64_t magic, struct stamp *st)
{
	size_t i;

	memcpy(st, b, sizeof(*st));
	if (st->magic == magic && st->sum == block_sum(b))
		return 1;
	for (i = 0; i < BS; i++)
		if (b[i])
			return -1;
	return 0;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* The data blocks are 1..n; write seq (from 1) goes to lba_of(seq). */
static uint64_t n_data, stride;

static void set_layout(uint64_t blocks)
{
	n_data = blocks - 1;
	stride = n_data * 618 / 1000 + 1;
	while (gcd(stride, n_data) != 1)
		stride++;
}

static uint64_t lba_of(uint64_t seq)
{
	return 1 + ((seq - 1) % n_data) * stride % n_data;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pwrite_all(int fd, const void *b, uint64_t lba)
{
	if (pwrite(fd, b, BS, (off_t)(lba * BS)) != BS) {
		perror("stamp: pwrite");
		return -1;
	}
	return 0;
}

/* ---- write -------------------------------------------------------------- */

static int wfd;
static uint64_t run_id, batch_first;
static unsigned int depth;
static pthread_barrier_t go, done;
static volatile int stop_all, failed;
static volatile sig_atomic_t term;

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static void *batch_writer(void *arg)
{
	unsigned int slot = (unsigned int)(uintptr_t)arg;
	unsigned char *b = NULL;

	if (posix_memalign((void **)&b, BS, BS))
		failed = 1;
	for (;;) {
		pthread_barrier_wait(&go);
		if (stop_all)
			break;
		if (!failed) {
			uint64_t seq = batch_first + slot;

			fill(b, BLK_MAGIC, run_id, seq, lba_of(seq));
			if (pwrite_all(wfd, b, lba_of(seq)))
				failed = 1;
		}
		pthread_barrier_wait(&done);
	}
	free(b);
	return NULL;
}

static int do_write(const char *dev, uint64_t blocks, double secs, uint64_t count,
		    unsigned int fsync_every, double every)
{
	pthread_t t[MAX_DEPTH];
	unsigned char *hdr;
	uint64_t batches = 0, fsyncs = 0, seq = 0;
	double start, last, now;
	unsigned int i;
	struct timespec ts;

	wfd = open(dev, O_RDWR | O_DIRECT);
	if (wfd < 0) {
		perror(dev);
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	run_id = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
		 (uint64_t)getpid() << 32;
	set_layout(blocks);
	if (posix_memalign((void **)&hdr, BS, BS))
		return 2;
	fill(hdr, HDR_MAGIC, run_id, n_data, depth);
	if (pwrite_all(wfd, hdr, 0) || fsync(wfd)) {
		perror("stamp: header");
		return 2;
	}
	printf("stamp: run %016llx blocks %llu depth %u fsync every %u batches\n",
	       (unsigned long long)run_id, (unsigned long long)blocks, depth, fsync_every);
	fflush(stdout);
	signal(SIGTERM, on_term);
	pthread_barrier_init(&go, NULL, depth + 1);
	pthread_barrier_init(&done, NULL, depth + 1);
	for (i = 0; i < depth; i++)
		pthread_create(&t[i], NULL, batch_writer, (void *)(uintptr_t)i);
	start = last = now_s();
	for (;;) {
		now = now_s();
		if ((secs > 0 && now - start >= secs) || (count && seq + depth > count) || failed ||
		    term)
			break;
		batch_first = seq + 1;
		pthread_barrier_wait(&go);
		pthread_barrier_wait(&done);
		if (failed)
			break;
		seq += depth;
		if (fsync_every && ++batches % fsync_every == 0) {
			if (fsync(wfd)) {
				perror("stamp: fsync");
				failed = 1;
				break;
			}
			fsyncs++;
		}
		now = now_s();
		if (every > 0 && now - last >= every) {
			printf("stamp: seq %llu writes/s %.0f fsyncs %llu\n", (unsigned long long)seq,
			       seq / (now - start), (unsigned long long)fsyncs);
			fflush(stdout);
			last = now;
		}
	}
	stop_all = 1;
	pthread_barrier_wait(&go);
	for (i = 0; i < depth; i++)
		pthread_join(t[i], NULL);
	if (!failed && fsync(wfd))
		failed = 1;
	now = now_s();
	printf("stamp: done seq %llu secs %.1f writes/s %.1f fsyncs %llu%s\n",
	       (unsigned long long)seq, now - start, seq / (now - start),
	       (unsigned long long)fsyncs, failed ? " FAILED" : "");
	fflush(stdout);
	close(wfd);
	return failed ? 2 : 0;
}

/* ---- verify ------------------------------------------------------------- */

static unsigned long violations;

static void violation(const char *fmt, unsigned long long a, unsigned long long b,
		      unsigned long long c)
{
	if (++violations <= 10) {
		printf("stamp: VIOLATION: ");
		printf(fmt, a, b, c);
		printf("\n");
	}
}

static int do_verify(const char *dev)
{
	unsigned char *b;
	struct stamp st;
	uint64_t *found, *first_of, *new_of, lba, seq, max = 0, lo, hi, written = 0, prefix, in_window = 0;
	unsigned int d;
	int fd = open(dev, O_RDONLY | O_DIRECT), r;

	if (fd < 0) {
		perror(dev);
		return 2;
	}
	if (posix_memalign((void **)&b, BS, BS) || pread(fd, b, BS, 0) != BS) {
		perror("stamp: header");
		return 2;
	}
	if (judge(b, HDR_MAGIC, &st) != 1 || st.seq < 1 || st.lba < 1 || st.lba > MAX_DEPTH ||
	    st.lba > st.seq) {
		printf("stamp: VIOLATION: no valid header in block 0\n");
		return 1;
	}
	run_id = st.run;
	set_layout(st.seq + 1);
	d = (unsigned int)st.lba;
	found = calloc(n_data + 1, sizeof(*found));
	if (!found)
		return 2;
	/* What each block holds: 0 (never written) or a sequence number. */
	for (lba = 1; lba <= n_data; lba++) {
		if (pread(fd, b, BS, (off_t)(lba * BS)) != BS) {
			perror("stamp: pread");
			return 2;
		}
		r = judge(b, BLK_MAGIC, &st);
		if (r < 0) {
			violation("block %llu is torn or garbage", lba, 0, 0);
			continue;
		}
		if (r == 0)
			continue;
		if (st.run != run_id || st.lba != lba || st.seq < 1 || lba_of(st.seq) != lba) {
			violation("block %llu holds run %llx seq %llu, not a write of this run to it",
				  lba, st.run, st.seq);
			continue;
		}
		found[lba] = st.seq;
		written++;
		if (st.seq > max)
			max = st.seq;
	}
	close(fd);
	/* The batch of the highest write found: lo..hi may be partial. */
	lo = max ? (max - 1) / d * d + 1 : 1;
	hi = lo + d - 1;
	prefix = lo - 1;
	/* The writes to a block are first, first + n_data, ...; the last
	 * batch's write to it, if any. */
	first_of = calloc(n_data + 1, sizeof(*first_of));
	new_of = calloc(n_data + 1, sizeof(*new_of));
	if (!first_of || !new_of)
		return 2;
	for (seq = 1; seq <= n_data; seq++)
		first_of[lba_of(seq)] = seq;
	for (seq = lo; max && seq <= hi; seq++)
		new_of[lba_of(seq)] = seq;
	for (lba = 1; lba <= n_data; lba++) {
		/* The newest write to lba before the last batch, if any. */
		uint64_t first = first_of[lba];
		uint64_t old = first < lo ? first + (lo - 1 - first) / n_data * n_data : 0;

		if (found[lba] == old)
			continue;
		if (new_of[lba] && found[lba] == new_of[lba]) {
			in_window++;
			continue;
		}
		violation("block %llu holds write %llu, expected %llu (or the last batch's)",
			  lba, found[lba], old);
	}
	/* The prefix: the last batch's writes that are there, in order. */
	for (seq = lo; seq <= hi && max; seq++) {
		if (found[lba_of(seq)] != seq)
			break;
		prefix = seq;
	}
	printf("stamp: verified blocks %llu written %llu prefix %llu max %llu window %llu/%u violations %lu\n",
	       (unsigned long long)n_data, (unsigned long long)written,
	       (unsigned long long)prefix, (unsigned long long)max,
	       (unsigned long long)in_window, d, violations);
	return violations ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: pvdisk_stamp write DEV [-b BLOCKS] [-q DEPTH] [-t SECS] "
			"[-n COUNT] [-f FSYNC] [-p SECS]\n"
			"       pvdisk_stamp verify DEV\n");
	return 2;
}

static int run(int argc, char **argv);

static void print_uptime(const char *what)
{
	char up[64] = "?";
	FILE *f = fopen("/proc/uptime", "r");

	if (f) {
		if (fscanf(f, "%63s", up) != 1)
			strcpy(up, "?");
		fclose(f);
	}
	printf("%s uptime %ss\n", what, up);
	fflush(stdout);
}

/* Process 1 of a nested guest: see the top of the file. */
static int guest_init(void)
{
	char *argv[64], *args = getenv("pvguest"), *p, result[32];
	int argc = 0, fd, rc;

	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	print_uptime("GUEST-BOOTED:");
	argv[argc++] = "pvdisk_stamp";
	p = strtok(args ? strdup(args) : strdup("verify"), ",");
	if (p)
		argv[argc++] = p;
	argv[argc++] = "/dev/vda";
	while ((p = strtok(NULL, ",")) && argc < 63)
		argv[argc++] = p;
	argv[argc] = NULL;
	rc = run(argc, argv);
	snprintf(result, sizeof(result), "GUEST-RESULT: rc=%d", rc);
	print_uptime(result);
	sync();
	reboot(RB_POWER_OFF);
	return rc;
}

int main(int argc, char **argv)
{
	if (getpid() == 1 && argc == 1)
		return guest_init();
	return run(argc, argv);
}

static int run(int argc, char **argv)
{
	uint64_t blocks = 4096, count = 0;
	double secs = 30, every = 2;
	unsigned int fsync_every = 16;
	const char *cmd, *dev;
	int opt;

	if (argc < 3)
		return usage();
	cmd = argv[1];
	dev = argv[2];
	depth = 4;
	optind = 3;
	while ((opt = getopt(argc, argv, "b:q:t:n:f:p:")) != -1) {
		switch (opt) {
		case 'b': blocks = strtoull(optarg, NULL, 0); break;
		case 'q': depth = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': secs = strtod(optarg, NULL); break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 'f': fsync_every = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'p': every = strtod(optarg, NULL); break;
		default: return usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "write")) {
		if (blocks < 2 || depth < 1 || depth > MAX_DEPTH || depth > blocks - 1)
			return usage();
		return do_write(dev, blocks, secs, count, fsync_every, every);
	}
	if (!strcmp(cmd, "verify"))
		return do_verify(dev);
	return usage();
}
