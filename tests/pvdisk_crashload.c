// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_crashload: the workload of the crash-replay test. Threads write,
 * overwrite, discard, write-zeroes, flush and FUA-write several disks (the
 * VDIs of one store) at once, and keep a journal of what was issued, what
 * was acknowledged in which order, and what each completed flush or FUA
 * write made durable; each of those completions is also marked in the
 * dm-log-writes log under the store, so that a replay of the log knows,
 * at every point, which writes must be there (userspace-tools/pvdisk-replay).
 *
 *   pvdisk_crashload run --seed S --ops N --threads T --journal FILE
 *                        [--mark-dev DM_NAME] [--journal-sync BYTES]
 *                        [--max-blocks N] [--discard-pct P] [--zeroout-pct P]
 *                        [--sync-pct P] [--fua-pct P] [--snap-pct P]
 *                        [--say-after-mark TEXT] NAME=DEV...
 *   pvdisk_crashload block SEED TAG LBA GEN
 *
 * Every 4 KiB block written describes itself: a 32-byte header {magic
 * "PCRW", tag, lba, gen, seed, 0, crc32c of the 28 bytes before} and a
 * fill drawn from (seed, tag, lba, gen) (userspace-tools/pvdisk-replay,
 * pattern.rs, reads it). A disk's tag is its place on the command line,
 * from 1; gen numbers the disk's operations in issue order (a per-disk
 * range lock keeps operations on overlapping ranges apart, so on every
 * block the gens of the operations grow with their order).
 *
 * run: O_DIRECT writes of 1..--max-blocks blocks (default 16), --fua-pct
 * of them (default 10) with pwritev2(RWF_DSYNC); BLKDISCARDs
 * (--discard-pct, default 8) and BLKZEROOUTs (--zeroout-pct, default 2);
 * fsyncs (--sync-pct, default 5); snapshots (--snap-pct, default 0), the
 * PVDISK_IOC_SNAPSHOT ioctl. The journal (text, one record a line):
 *
 *   op TAG GEN KIND LBA N       issued (KIND: W write, F FUA, D discard,
 *                               Z write-zeroes)
 *   ack TAG GEN SEQ             acknowledged; SEQ counts acknowledgements
 *   mark NAME flush TAG SEQ     fsync of TAG completed, issued after the
 *                               acknowledgements numbered below SEQ
 *   mark NAME fua TAG GEN       FUA write GEN of TAG completed
 *   mark NAME snap TAG SEQ      a snapshot of TAG completed, taken after the
 *                               acknowledgements numbered below SEQ (it
 *                               makes them durable, as an fsync does);
 *                               every other snapshot is lazy
 *                               (PVDISK_SNAPSHOT_LAZY) and journals no mark
 *
 * With --mark-dev, after each completed fsync or FUA write the mark NAME
 * is set in the dm-log-writes target DM_NAME (the DM_TARGET_MSG ioctl, as
 * `dmsetup message DM_NAME 0 mark NAME` does) before the journal names it,
 * with the target suspended so that every flush in flight is logged
 * before the mark (see dm_mark). Without, the marks are only journaled.
 *
 * With --say-after-mark TEXT, prints the line TEXT once the first mark is
 * journaled (the killed-machine test's host starts its random delay
 * there, so that every kill finds something durable).
 *
 * With --journal-sync BYTES, FILE is a block device (or a region of one
 * at its start) that outlives the machine, for the killed-machine test
 * (scripts/killed.sh): its first BYTES are zeroed, and every record is
 * written through (O_DIRECT | O_SYNC, the 4 KiB blocks it touches) before
 * the call that journals it returns. So an operation is journaled before
 * it is issued, and a mark only after what it says is true. A kill can
 * cut the journal anywhere, even inside a record: the reader keeps it up
 * to the last newline (the text ends at the first NUL byte).
 *
 * block: prints the header and the first fill word of one block (for the
 * replayer's test that both sides agree).
 *
 * Exit status: 0 ok, 1 an operation failed, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "../include/uapi/linux/pvdisk.h"

#define BS 4096u
#define MAX_THREADS 32
#define MAX_DEVS 16
#define HDR_MAGIC 0x57524350u /* "PCRW" */

struct hdr {
	uint32_t magic;
	uint32_t tag;
	uint64_t lba;
	uint32_t gen;
	uint32_t seed;
	uint32_t rsvd;
	uint32_t crc;
};
_Static_assert(sizeof(struct hdr) == 32, "header is 32 bytes");

struct range {
	uint64_t lba, n;
	int used;
};

struct dev {
	const char *name, *path;
	int fd;
	uint32_t tag;
	uint32_t next_gen;
	uint64_t nblocks;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct range inflight[MAX_THREADS];
};

static struct dev devs[MAX_DEVS];
static int ndevs;
static uint32_t pattern_seed;
static uint64_t seed, n_ops;
static unsigned discard_pct = 8, zeroout_pct = 2, sync_pct = 5, fua_pct = 10, snap_pct,
	max_blocks = 16;
static const char *mark_dev, *say_after_mark;
static atomic_int said;
static int dm_fd = -1;
static FILE *journal;
/* --journal-sync: the journal's device, its text so far, and its size. */
static int jfd = -1;
static char *jbuf;
static size_t jlen, jcap;
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t ops_issued, acks, marks, n_writes, n_fua, n_discards, n_zeroouts,
	n_syncs, n_snaps, blocks_written;
static atomic_int failed;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pvdisk_crashload: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pvdisk_crashload run --seed S --ops N --threads T --journal FILE\n"
		"                            [--mark-dev DM_NAME] [--max-blocks N] [--discard-pct P]\n"
		"                            [--zeroout-pct P] [--sync-pct P] [--fua-pct P]\n"
		"                            [--snap-pct P] [--journal-sync BYTES] [--say-after-mark TEXT]\n"
		"                            NAME=DEV...\n"
		"       pvdisk_crashload block SEED TAG LBA GEN\n");
	exit(2);
}

/* ---- blocks ------------------------------------------------------------ */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t c = ~0u;

	while (n--)
		c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void make_block(uint8_t *b, uint32_t seed, uint32_t tag, uint64_t lba, uint32_t gen)
{
	struct hdr h = { HDR_MAGIC, tag, lba, gen, seed, 0, 0 };
	uint64_t x, *q = (uint64_t *)(b + sizeof(h));

	h.crc = crc32c(&h, offsetof(struct hdr, crc));
	memcpy(b, &h, sizeof(h));
	x = mix64(mix64(mix64(mix64(seed) ^ tag) ^ lba) ^ gen) | 1;
	for (size_t i = 0; i < (BS - sizeof(h)) / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		q[i] = x;
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s = mix64(*s);
	return *s;
}

/* ---- journal and marks ------------------------------------------------- */

/*
 * Appends a record. With --journal-sync, writes the 4 KiB blocks it
 * touches through to the device before returning (the rest of the buffer
 * is zeros, so the text ends at the first NUL).
 */
static void jprintf(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&journal_lock);
	va_start(ap, fmt);
	if (jfd < 0) {
		vfprintf(journal, fmt, ap);
	} else {
		size_t from = jlen / BS * BS, to;
		int n = vsnprintf(jbuf + jlen, jcap - jlen, fmt, ap);

		if (n < 0 || (size_t)n >= jcap - jlen)
			die("the journal is full (%zu bytes)", jcap);
		jlen += n;
		to = (jlen + BS - 1) / BS * BS;
		if (pwrite(jfd, jbuf + from, to - from, from) != (ssize_t)(to - from))
			die("journal write: %s", strerror(errno));
	}
	va_end(ap);
	pthread_mutex_unlock(&journal_lock);
}

/* Opens the --journal-sync device and zeroes its first `bytes`. */
static void journal_sync_open(const char *path, size_t bytes)
{
	jcap = (bytes + BS - 1) / BS * BS;
	if (jcap < 2 * BS)
		die("--journal-sync: at least %u bytes", 2 * BS);
	if (posix_memalign((void **)&jbuf, BS, jcap))
		die("out of memory");
	memset(jbuf, 0, jcap);
	jfd = open(path, O_WRONLY | O_DIRECT | O_SYNC);
	if (jfd < 0)
		die("%s: %s", path, strerror(errno));
	for (size_t off = 0; off < jcap; off += 1 << 20) {
		size_t n = jcap - off < (1 << 20) ? jcap - off : 1 << 20;

		if (pwrite(jfd, jbuf + off, n, off) != (ssize_t)n)
			die("%s: %s", path, strerror(errno));
	}
	jcap--; /* a NUL stays at the end */
}

/* Zeroes buf (size bytes) and fills its DM ioctl header for mark_dev. */
static struct dm_ioctl *dm_header(void *buf, size_t size)
{
	struct dm_ioctl *io = buf;

	memset(buf, 0, size);
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = size;
	io->data_start = sizeof(struct dm_ioctl);
	snprintf(io->name, sizeof(io->name), "%s", mark_dev);
	return io;
}

/*
 * Suspends (suspend != 0) or resumes mark_dev. A suspend returns once
 * every bio mapped before it has completed (no flush is issued: the
 * LOCKFS freeze, which would write back a page cache, is skipped).
 */
static int dm_suspend(int suspend)
{
	struct dm_ioctl io;

	dm_header(&io, sizeof(io));
	io.flags = DM_SKIP_LOCKFS_FLAG | (suspend ? DM_SUSPEND_FLAG : 0);
	return ioctl(dm_fd, DM_DEV_SUSPEND, &io) ? -errno : 0;
}

/*
 * Sets mark NAME in the dm-log-writes target (dmsetup message DEV 0 mark
 * NAME), after every flush in flight in the target has completed.
 *
 * The target logs a completed write only with the first flush mapped
 * after it (which takes every completed, unflushed write), when that
 * flush completes; a mark goes in the log at once. When several flushes
 * are in flight (each VDI's worker commits on its own, so they often
 * are), a flush F issued after a write W completed can finish first, with
 * W still held by an earlier flush G: W is durable when F completes (the
 * device flushed after W completed), but the log has it only after G, so
 * after the mark that follows F. The replay then sees an fsync'ed write
 * missing at that mark. Suspending the target waits for G (and every
 * other bio mapped before), so everything a completed flush made durable
 * is logged before the mark. Marks are set one at a time (the suspend of
 * a device already suspended does not wait).
 */
static int dm_mark(const char *name)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	union {
		struct dm_ioctl io;
		char buf[sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) + 128];
	} u;
	struct dm_target_msg *m;
	int err, resumed;

	dm_header(&u, sizeof(u));
	m = (struct dm_target_msg *)(u.buf + u.io.data_start);
	m->sector = 0;
	snprintf(m->message, 128, "mark %s", name);
	pthread_mutex_lock(&lock);
	err = dm_suspend(1);
	if (!err)
		err = ioctl(dm_fd, DM_TARGET_MSG, &u.io) ? -errno : 0;
	resumed = dm_suspend(0);
	pthread_mutex_unlock(&lock);
	return err ? err : resumed;
}

/*
 * Marks a completed flush (kind "flush"), FUA write ("fua") or snapshot
 * ("snap") of v.
 */
static void mark(const char *kind, struct dev *v, uint64_t what)
{
	char name[32];
	int err;
	char c = !strcmp(kind, "flush") ? 'f' : !strcmp(kind, "fua") ? 'u' : 's';

	snprintf(name, sizeof(name), "%c%" PRIu64, c, (uint64_t)atomic_fetch_add(&marks, 1));
	err = mark_dev ? dm_mark(name) : 0;
	if (err) {
		fprintf(stderr, "pvdisk_crashload: mark %s in %s: %s\n", name, mark_dev,
			strerror(-err));
		failed = 1;
		return;
	}
	jprintf("mark %s %s %u %" PRIu64 "\n", name, kind, v->tag, what);
	if (say_after_mark && !atomic_exchange(&said, 1))
		printf("%s\n", say_after_mark);
}

/* ---- run --------------------------------------------------------------- */

static int overlaps(struct dev *v, uint64_t lba, uint64_t n)
{
	for (int i = 0; i < MAX_THREADS; i++) {
		struct range *r = &v->inflight[i];

		if (r->used && lba < r->lba + r->n && r->lba < lba + n)
			return 1;
	}
	return 0;
}

/* Takes [lba, lba+n) of v for thread t and journals the operation. */
static uint32_t range_lock(struct dev *v, int t, uint64_t lba, uint64_t n, char kind)
{
	uint32_t gen;

	pthread_mutex_lock(&v->lock);
	while (overlaps(v, lba, n))
		pthread_cond_wait(&v->cond, &v->lock);
	v->inflight[t] = (struct range){ lba, n, 1 };
	gen = v->next_gen++;
	jprintf("op %u %u %c %" PRIu64 " %" PRIu64 "\n", v->tag, gen, kind, lba, n);
	pthread_mutex_unlock(&v->lock);
	return gen;
}

/* Acknowledged: journal it, then let the range go. */
static void range_unlock(struct dev *v, int t, uint32_t gen)
{
	jprintf("ack %u %u %" PRIu64 "\n", v->tag, gen, (uint64_t)atomic_fetch_add(&acks, 1));
	pthread_mutex_lock(&v->lock);
	v->inflight[t].used = 0;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int do_write(int fd, void *buf, size_t len, off_t off, int fua)
{
	size_t done = 0;

	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		ssize_t r = pwritev2(fd, &iov, 1, off + done, fua ? RWF_DSYNC : 0);

		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENOSPC;
		done += r;
	}
	return 0;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t s = mix64(seed * 1000003ull + t);
	uint8_t *buf;

	if (posix_memalign((void **)&buf, BS, (size_t)max_blocks * BS))
		die("out of memory");
	while (!failed && atomic_fetch_add(&ops_issued, 1) < n_ops) {
		struct dev *v = &devs[rnd(&s) % ndevs];
		unsigned kind = rnd(&s) % 100;
		uint64_t n, lba;
		uint32_t gen;
		int err;

		n = 1 + rnd(&s) % (1ull << (rnd(&s) % 5));
		if (n > max_blocks)
			n = max_blocks;
		if (n > v->nblocks)
			n = v->nblocks;
		lba = rnd(&s) % (v->nblocks - n + 1);

		if (kind < snap_pct) {
			struct pvdisk_snapshot snap = { .size = sizeof(snap) };
			uint64_t before = atomic_load(&acks);
			/* Every other one lazy: durable only at a later commit. */
			int lazy = atomic_fetch_add(&n_snaps, 1) % 2;

			if (lazy)
				snap.flags = PVDISK_SNAPSHOT_LAZY;
			if (ioctl(v->fd, PVDISK_IOC_SNAPSHOT, &snap) < 0) {
				fprintf(stderr, "pvdisk_crashload: %s: snapshot: %s\n", v->path,
					strerror(errno));
				failed = 1;
				break;
			}
			if (!lazy)
				mark("snap", v, before);
		} else if (kind < snap_pct + sync_pct) {
			uint64_t before = atomic_load(&acks);

			if (fsync(v->fd) < 0) {
				fprintf(stderr, "pvdisk_crashload: %s: fsync: %s\n", v->path,
					strerror(errno));
				failed = 1;
				break;
			}
			atomic_fetch_add(&n_syncs, 1);
			mark("flush", v, before);
		} else if (kind < snap_pct + sync_pct + discard_pct + zeroout_pct) {
			int zero = kind >= snap_pct + sync_pct + discard_pct;
			uint64_t r[2] = { lba * BS, n * BS };

			gen = range_lock(v, t, lba, n, zero ? 'Z' : 'D');
			err = ioctl(v->fd, zero ? BLKZEROOUT : BLKDISCARD, r) ? -errno : 0;
			if (err) {
				fprintf(stderr, "pvdisk_crashload: %s: %s of %" PRIu64 "+%" PRIu64
					": %s\n", v->path, zero ? "write-zeroes" : "discard", lba, n,
					strerror(-err));
				failed = 1;
				break;
			}
			atomic_fetch_add(zero ? &n_zeroouts : &n_discards, 1);
			range_unlock(v, t, gen);
		} else {
			int fua = rnd(&s) % 100 < fua_pct;

			gen = range_lock(v, t, lba, n, fua ? 'F' : 'W');
			for (uint64_t i = 0; i < n; i++)
				make_block(buf + i * BS, pattern_seed, v->tag, lba + i, gen);
			err = do_write(v->fd, buf, n * BS, lba * BS, fua);
			if (err) {
				fprintf(stderr, "pvdisk_crashload: %s: write of %" PRIu64 "+%" PRIu64
					": %s\n", v->path, lba, n, strerror(-err));
				failed = 1;
				break;
			}
			atomic_fetch_add(&n_writes, 1);
			atomic_fetch_add(&n_fua, fua);
			atomic_fetch_add(&blocks_written, n);
			range_unlock(v, t, gen);
			if (fua)
				mark("fua", v, gen);
		}
	}
	free(buf);
	return NULL;
}

static uint64_t num_arg(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "pvdisk_crashload: %s: bad number '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_run(int argc, char **argv)
{
	const char *jpath = NULL;
	uint64_t jsync = 0;
	uint64_t threads = 4;
	int have_seed = 0, have_ops = 0, i;
	pthread_t th[MAX_THREADS];
	double t0;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];

		if (i + 1 >= argc)
			usage();
		if (!strcmp(o, "--seed"))
			seed = num_arg(o, argv[++i]), have_seed = 1;
		else if (!strcmp(o, "--ops"))
			n_ops = num_arg(o, argv[++i]), have_ops = 1;
		else if (!strcmp(o, "--threads"))
			threads = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--journal"))
			jpath = argv[++i];
		else if (!strcmp(o, "--mark-dev"))
			mark_dev = argv[++i];
		else if (!strcmp(o, "--max-blocks"))
			max_blocks = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--discard-pct"))
			discard_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--zeroout-pct"))
			zeroout_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--sync-pct"))
			sync_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--fua-pct"))
			fua_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--snap-pct"))
			snap_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--say-after-mark"))
			say_after_mark = argv[++i];
		else if (!strcmp(o, "--journal-sync"))
			jsync = num_arg(o, argv[++i]);
		else
			usage();
	}
	if (!jpath || !have_seed || !have_ops || i >= argc || argc - i > MAX_DEVS ||
	    threads < 1 || threads > MAX_THREADS || max_blocks < 1 || max_blocks > 256 ||
	    discard_pct + zeroout_pct + sync_pct + snap_pct > 100 || fua_pct > 100 ||
	    jsync > (1ull << 30))
		usage();
	crc_init();
	pattern_seed = (uint32_t)mix64(seed);
	if (mark_dev) {
		dm_fd = open("/dev/mapper/control", O_RDWR);
		if (dm_fd < 0)
			die("/dev/mapper/control: %s", strerror(errno));
	}
	if (jsync) {
		journal_sync_open(jpath, jsync);
	} else {
		journal = fopen(jpath, "w");
		if (!journal)
			die("%s: %s", jpath, strerror(errno));
	}
	jprintf("pvdisk-crash-journal 1\nseed %u\n", pattern_seed);
	for (ndevs = 0; i < argc; i++, ndevs++) {
		struct dev *v = &devs[ndevs];
		char *eq = strchr(argv[i], '=');
		uint64_t bytes;

		if (!eq || eq == argv[i] || !eq[1])
			usage();
		*eq = 0;
		v->name = argv[i];
		v->path = eq + 1;
		v->fd = open(v->path, O_RDWR | O_DIRECT | O_EXCL);
		if (v->fd < 0)
			die("%s: %s", v->path, strerror(errno));
		if (ioctl(v->fd, BLKGETSIZE64, &bytes) < 0)
			die("%s: BLKGETSIZE64: %s", v->path, strerror(errno));
		v->nblocks = bytes / BS;
		if (!v->nblocks)
			die("%s: smaller than a block", v->path);
		v->tag = ndevs + 1;
		v->next_gen = 1;
		pthread_mutex_init(&v->lock, NULL);
		pthread_cond_init(&v->cond, NULL);
		jprintf("vdi %u %s %" PRIu64 "\n", v->tag, v->name, v->nblocks);
	}
	t0 = now();
	for (uint64_t t = 0; t < threads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t))
			die("pthread_create failed");
	for (uint64_t t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	for (int d = 0; d < ndevs; d++)
		close(devs[d].fd);
	if (!failed)
		jprintf("end\n");
	if (journal && (ferror(journal) | fclose(journal)))
		die("%s: write failed", jpath);
	if (jfd >= 0 && close(jfd))
		die("%s: %s", jpath, strerror(errno));
	printf("crashload: seed %" PRIu64 ", %d disks, %" PRIu64 " threads: %" PRIu64
	       " writes (%" PRIu64 " blocks, %" PRIu64 " FUA), %" PRIu64 " discards, %" PRIu64
	       " write-zeroes, %" PRIu64 " fsyncs, %" PRIu64 " snapshots, %" PRIu64
	       " marks in %.1fs\n",
	       seed, ndevs, threads, (uint64_t)n_writes, (uint64_t)blocks_written,
	       (uint64_t)n_fua, (uint64_t)n_discards, (uint64_t)n_zeroouts, (uint64_t)n_syncs,
	       (uint64_t)n_snaps, (uint64_t)marks, now() - t0);
	return failed ? 1 : 0;
}

static int cmd_block(int argc, char **argv)
{
	uint8_t *b;

	if (argc != 4)
		usage();
	if (posix_memalign((void **)&b, BS, BS))
		die("out of memory");
	crc_init();
	make_block(b, num_arg("seed", argv[0]), num_arg("tag", argv[1]), num_arg("lba", argv[2]),
		   num_arg("gen", argv[3]));
	for (int i = 0; i < 40; i++)
		printf("%02x", b[i]);
	printf("\n");
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "block"))
		return cmd_block(argc - 2, argv + 2);
	usage();
	return 2;
}
