// SPDX-License-Identifier: GPL-2.0
/*
 * pvdisk_model: a model check of block devices. Threads write, overwrite,
 * discard and read back random ranges of several devices at once while an
 * in-memory model records what every 4 KiB block must hold; the model is
 * saved and any device or image can be verified against it later.
 *
 *   pvdisk_model run --seed S --ops N --threads T --state FILE
 *                    [--blocks N] [--discard-pct P] [--zeroout-pct P]
 *                    [--sync-pct P] [--read-pct P] [--fua-pct P]
 *                    [--max-blocks N] [--resume] DEV1 [DEV2 ...]
 *   pvdisk_model verify --state FILE [--dev I] [--max-report N] TARGET...
 *   pvdisk_model derive --state IN --out OUT I1 [I2 ...]
 *   pvdisk_model show --state FILE
 *   pvdisk_model superblock STORE --set-incompat N  (or compat, ro-compat)
 *   pvdisk_model superblock STORE --flip-byte OFF
 *
 * Every 4 KiB block written holds a self-describing pattern: a 32-byte
 * header {magic, tag, lba, gen, seed, crc} and a pseudo-random fill drawn
 * from (seed, tag, lba, gen), so any block can be judged alone. A device's
 * tag is its index + 1 in the run that created the state; gen counts the
 * device's write operations (1, 2, ...). The model holds (tag, gen) per
 * block; gen 0 means never written or discarded, to be read as zeros.
 *
 * run: T threads (at most 32, so the queue depth is T) issue O_DIRECT
 * writes of 4 KiB..1 MiB (--max-blocks, default 256 blocks; --fua-pct of
 * them, default 10, with RWF_DSYNC), BLKDISCARDs (--discard-pct, default
 * 10) and BLKZEROOUTs (--zeroout-pct, default 5) (fallocate punch-hole and
 * zero-range on a regular file), fdatasyncs (--sync-pct, default 2) and
 * reads checked against the model (--read-pct, default 20), over all
 * devices at once, on whole aligned 4 KiB blocks. A
 * per-device range lock keeps two operations on overlapping ranges of one
 * device from being in flight together, so the expected content is always
 * defined. Only the first --blocks blocks of each device are used (default:
 * all). At the end every device is fsync()ed and the model written to
 * FILE (to FILE.failed if an operation failed or a read mismatched). --resume loads FILE first and goes on from it (the devices must
 * be in the same order): the way to write more after a power cycle.
 *
 * verify: reads every block of each TARGET (a block device or a regular
 * file such as `pvdisk export` writes; TARGET i is device i of the model,
 * or device I with --dev I and one target) and compares it with the model.
 * Prints each target's and the total "blocks compared N, mismatches M"
 * and the first mismatches (what was expected, what was found: zeros,
 * another generation, another block's or device's data, garbage).
 *
 * derive: a new state whose device j starts as device I_j of IN (same
 * expected content) with a fresh tag for what is written to it later: the
 * model of clones made from a snapshot of device I_j.
 *
 * Exit status: 0 ok, 1 mismatch or I/O error, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
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

#define BS 4096u
#define MAX_THREADS 32
#define MAX_DEVS 64
#define HDR_MAGIC 0x4c444d50u /* "PMDL" */
#define STATE_MAGIC "PVDMST01"

struct hdr {
	uint32_t magic;
	uint32_t tag;
	uint64_t lba;
	uint32_t gen;
	uint32_t seed;
	uint32_t rsvd;
	uint32_t crc;	/* crc32c of the 28 bytes before it */
};
_Static_assert(sizeof(struct hdr) == 32, "header is 32 bytes");

struct entry {
	uint32_t tag;
	uint32_t gen;
};

struct range {
	uint64_t lba, n;
	int used;
};

struct dev {
	const char *path;
	int fd;
	int is_file;
	uint32_t tag;
	uint32_t next_gen;
	uint64_t nblocks;
	struct entry *map;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct range inflight[MAX_THREADS];
};

static struct dev devs[MAX_DEVS];
static int ndevs;
static uint32_t pattern_seed;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pvdisk_model: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pvdisk_model run --seed S --ops N --threads T --state FILE [--blocks N]\n"
		"                        [--discard-pct P] [--zeroout-pct P] [--sync-pct P] [--read-pct P]\n"
		"                        [--fua-pct P] [--max-blocks N] [--resume] DEV...\n"
		"       pvdisk_model verify --state FILE [--dev I] [--max-report N] TARGET...\n"
		"       pvdisk_model derive --state IN --out OUT I...\n"
		"       pvdisk_model show --state FILE\n"
		"       pvdisk_model superblock STORE --set-compat|--set-ro-compat|--set-incompat N\n"
		"       pvdisk_model superblock STORE --flip-byte OFF\n");
	exit(2);
}

/* ---- checksums and patterns --------------------------------------------- */

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

/* A per-thread random stream. */
static uint64_t rnd(uint64_t *s)
{
	*s = mix64(*s);
	return *s;
}

/* ---- devices ---------------------------------------------------------- */

static int open_target(const char *path, int rw, uint64_t *bytes, int *is_file)
{
	struct stat st;
	int flags = rw ? O_RDWR : O_RDONLY, fd;

	/* Never write to a block device someone holds (a mounted disk). */
	if (rw && stat(path, &st) == 0 && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	fd = open(path, flags | O_DIRECT);
	if (fd < 0 && errno == EINVAL) /* a file system without O_DIRECT */
		fd = open(path, flags);
	if (fd < 0)
		die("%s: open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		die("%s: stat: %s", path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, bytes) < 0)
			die("%s: BLKGETSIZE64: %s", path, strerror(errno));
		*is_file = 0;
	} else if (S_ISREG(st.st_mode)) {
		*bytes = st.st_size;
		*is_file = 1;
	} else {
		die("%s: not a block device or regular file", path);
	}
	return fd;
}

/* ---- state file ------------------------------------------------------- */

static void save_state(const char *file)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "wb");
	if (!f)
		die("%s: %s", tmp, strerror(errno));
	fwrite(STATE_MAGIC, 8, 1, f);
	fwrite(&pattern_seed, 4, 1, f);
	fwrite(&ndevs, 4, 1, f);
	for (int d = 0; d < ndevs; d++) {
		fwrite(&devs[d].tag, 4, 1, f);
		fwrite(&devs[d].next_gen, 4, 1, f);
		fwrite(&devs[d].nblocks, 8, 1, f);
		fwrite(devs[d].map, sizeof(struct entry), devs[d].nblocks, f);
	}
	if (ferror(f) | fclose(f))
		die("%s: write failed", tmp);
	if (rename(tmp, file) < 0)
		die("rename %s: %s", file, strerror(errno));
}

static void load_state(const char *file)
{
	char magic[8];
	FILE *f = fopen(file, "rb");

	if (!f)
		die("%s: %s", file, strerror(errno));
	if (fread(magic, 8, 1, f) != 1 || memcmp(magic, STATE_MAGIC, 8) ||
	    fread(&pattern_seed, 4, 1, f) != 1 || fread(&ndevs, 4, 1, f) != 1 ||
	    ndevs < 1 || ndevs > MAX_DEVS)
		die("%s: not a pvdisk_model state file", file);
	for (int d = 0; d < ndevs; d++) {
		struct dev *v = &devs[d];

		if (fread(&v->tag, 4, 1, f) != 1 || fread(&v->next_gen, 4, 1, f) != 1 ||
		    fread(&v->nblocks, 8, 1, f) != 1 || v->nblocks > (1ull << 32))
			die("%s: truncated", file);
		v->map = calloc(v->nblocks ? v->nblocks : 1, sizeof(struct entry));
		if (!v->map)
			die("out of memory");
		if (fread(v->map, sizeof(struct entry), v->nblocks, f) != v->nblocks)
			die("%s: truncated", file);
	}
	fclose(f);
}

/* ---- run -------------------------------------------------------------- */

static uint64_t seed, n_ops;
static unsigned read_pct = 20, discard_pct = 10, zeroout_pct = 5, sync_pct = 2, fua_pct = 10,
	max_blocks = 256;
static atomic_uint_fast64_t ops_issued, n_writes, n_fua, n_discards, n_zeroouts, n_syncs,
	n_reads, bytes_written, bytes_discarded, read_mismatches;
static atomic_int failed;

static int overlaps(struct dev *v, uint64_t lba, uint64_t n)
{
	for (int i = 0; i < MAX_THREADS; i++) {
		struct range *r = &v->inflight[i];

		if (r->used && lba < r->lba + r->n && r->lba < lba + n)
			return 1;
	}
	return 0;
}

/* Take the range [lba, lba+n) of v for thread slot t; return a new gen. */
static uint32_t range_lock(struct dev *v, int t, uint64_t lba, uint64_t n, int want_gen)
{
	uint32_t gen = 0;

	pthread_mutex_lock(&v->lock);
	while (overlaps(v, lba, n))
		pthread_cond_wait(&v->cond, &v->lock);
	v->inflight[t] = (struct range){ lba, n, 1 };
	if (want_gen)
		gen = v->next_gen++;
	pthread_mutex_unlock(&v->lock);
	return gen;
}

static void range_unlock(struct dev *v, int t)
{
	pthread_mutex_lock(&v->lock);
	v->inflight[t].used = 0;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int check_block(const uint8_t *b, const struct entry *e, uint64_t lba,
		       uint8_t *scratch);
static void describe(char *out, size_t len, const uint8_t *b, const struct entry *e,
		     uint64_t lba);

/* write: 0 read, 1 write, 2 write with RWF_DSYNC (FUA, or a write and a flush) */
static int do_io(int write, int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		ssize_t r = write == 2 ? pwritev2(fd, &iov, 1, off + done, RWF_DSYNC) :
			    write ? pwrite(fd, (char *)buf + done, len - done, off + done)
				  : pread(fd, (char *)buf + done, len - done, off + done);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		done += r;
	}
	return 0;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t s = mix64(seed * 1000003ull + t);
	uint8_t *buf, *scratch;

	if (posix_memalign((void **)&buf, BS, (size_t)max_blocks * BS) ||
	    posix_memalign((void **)&scratch, BS, BS))
		die("out of memory");
	while (!failed && atomic_fetch_add(&ops_issued, 1) < n_ops) {
		struct dev *v = &devs[rnd(&s) % ndevs];
		unsigned kind = rnd(&s) % 100;
		uint64_t n, lba;
		int err;

		/* Sizes spread over 1..max_blocks, small ones more often. */
		n = 1 + rnd(&s) % (1ull << (rnd(&s) % 9));
		if (n > max_blocks)
			n = max_blocks;
		if (n > v->nblocks)
			n = v->nblocks;
		lba = rnd(&s) % (v->nblocks - n + 1);

		if (kind < read_pct) {
			range_lock(v, t, lba, n, 0);
			err = do_io(0, v->fd, buf, n * BS, lba * BS);
			if (err) {
				fprintf(stderr, "pvdisk_model: %s: read of %" PRIu64 "+%" PRIu64
					" blocks: %s\n", v->path, lba, n, strerror(-err));
				failed = 1;
			} else {
				for (uint64_t i = 0; i < n; i++) {
					if (check_block(buf + i * BS, &v->map[lba + i], lba + i, scratch))
						continue;
					if (atomic_fetch_add(&read_mismatches, 1) < 10) {
						char d[256];

						describe(d, sizeof(d), buf + i * BS,
							 &v->map[lba + i], lba + i);
						fprintf(stderr, "pvdisk_model: read mismatch: %s lba %"
							PRIu64 ": %s\n", v->path, lba + i, d);
					}
				}
			}
			atomic_fetch_add(&n_reads, 1);
			range_unlock(v, t);
		} else if (kind < read_pct + discard_pct + zeroout_pct) {
			/* discard or write-zeroes: both leave zeros */
			int zero = kind >= read_pct + discard_pct;

			range_lock(v, t, lba, n, 0);
			if (v->is_file) {
				err = fallocate(v->fd, zero ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE :
						FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						lba * BS, n * BS) ? -errno : 0;
			} else {
				uint64_t r[2] = { lba * BS, n * BS };

				err = ioctl(v->fd, zero ? BLKZEROOUT : BLKDISCARD, r) ? -errno : 0;
			}
			if (err) {
				fprintf(stderr, "pvdisk_model: %s: %s of %" PRIu64 "+%" PRIu64
					" blocks: %s\n", v->path, zero ? "write-zeroes" : "discard",
					lba, n, strerror(-err));
				failed = 1;
			} else {
				for (uint64_t i = 0; i < n; i++)
					v->map[lba + i] = (struct entry){ 0, 0 };
				atomic_fetch_add(&bytes_discarded, n * BS);
			}
			atomic_fetch_add(zero ? &n_zeroouts : &n_discards, 1);
			range_unlock(v, t);
		} else if (kind < read_pct + discard_pct + zeroout_pct + sync_pct) {
			/* a flush beside the other threads' writes */
			if (fdatasync(v->fd) < 0) {
				fprintf(stderr, "pvdisk_model: %s: fdatasync: %s\n", v->path,
					strerror(errno));
				failed = 1;
			}
			atomic_fetch_add(&n_syncs, 1);
		} else {
			uint32_t gen = range_lock(v, t, lba, n, 1);
			int fua = rnd(&s) % 100 < fua_pct;

			for (uint64_t i = 0; i < n; i++)
				make_block(buf + i * BS, pattern_seed, v->tag, lba + i, gen);
			err = do_io(fua ? 2 : 1, v->fd, buf, n * BS, lba * BS);
			atomic_fetch_add(&n_fua, fua);
			if (err) {
				fprintf(stderr, "pvdisk_model: %s: write of %" PRIu64 "+%" PRIu64
					" blocks: %s\n", v->path, lba, n, strerror(-err));
				failed = 1;
				/* The range's content is unknown now: the run fails. */
			} else {
				for (uint64_t i = 0; i < n; i++)
					v->map[lba + i] = (struct entry){ v->tag, gen };
				atomic_fetch_add(&bytes_written, n * BS);
			}
			atomic_fetch_add(&n_writes, 1);
			range_unlock(v, t);
		}
	}
	free(buf);
	free(scratch);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t num_arg(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "pvdisk_model: %s: bad number '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static int cmd_run(int argc, char **argv)
{
	const char *state = NULL;
	uint64_t limit = 0, threads = 4;
	int resume = 0, have_seed = 0, have_ops = 0, i;
	pthread_t th[MAX_THREADS];
	double t0, t1;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--resume")) {
			resume = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(o, "--seed"))
			seed = num_arg(o, argv[++i]), have_seed = 1;
		else if (!strcmp(o, "--ops"))
			n_ops = num_arg(o, argv[++i]), have_ops = 1;
		else if (!strcmp(o, "--threads"))
			threads = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--state"))
			state = argv[++i];
		else if (!strcmp(o, "--blocks"))
			limit = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--discard-pct"))
			discard_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--read-pct"))
			read_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--zeroout-pct"))
			zeroout_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--sync-pct"))
			sync_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--fua-pct"))
			fua_pct = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--max-blocks"))
			max_blocks = num_arg(o, argv[++i]);
		else
			usage();
	}
	if (!state || !have_seed || !have_ops || i >= argc || threads < 1 ||
	    threads > MAX_THREADS || read_pct + discard_pct + zeroout_pct + sync_pct > 100 ||
	    fua_pct > 100 || max_blocks < 1 ||
	    max_blocks > 1024)
		usage();
	if (resume) {
		load_state(state);
		if (argc - i != ndevs)
			die("%s has %d devices, %d given", state, ndevs, argc - i);
	} else {
		ndevs = argc - i;
		if (ndevs > MAX_DEVS)
			usage();
		pattern_seed = (uint32_t)mix64(seed);
	}
	for (int d = 0; d < ndevs; d++) {
		struct dev *v = &devs[d];
		uint64_t bytes;

		v->path = argv[i + d];
		v->fd = open_target(v->path, 1, &bytes, &v->is_file);
		if (resume) {
			if (bytes / BS < v->nblocks)
				die("%s: %" PRIu64 " blocks, the model has %" PRIu64,
				    v->path, bytes / BS, v->nblocks);
		} else {
			v->nblocks = bytes / BS;
			if (limit && limit < v->nblocks)
				v->nblocks = limit;
			if (!v->nblocks)
				die("%s: smaller than a block", v->path);
			v->tag = d + 1;
			v->next_gen = 1;
			v->map = calloc(v->nblocks, sizeof(struct entry));
			if (!v->map)
				die("out of memory");
		}
		pthread_mutex_init(&v->lock, NULL);
		pthread_cond_init(&v->cond, NULL);
	}
	crc_init();
	t0 = now();
	for (uint64_t t = 0; t < threads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t))
			die("pthread_create failed");
	for (uint64_t t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	for (int d = 0; d < ndevs; d++) {
		if (fsync(devs[d].fd) < 0) {
			fprintf(stderr, "pvdisk_model: %s: fsync: %s\n", devs[d].path,
				strerror(errno));
			failed = 1;
		}
		close(devs[d].fd);
	}
	t1 = now();
	/* A failed run leaves the state as it was (its model is in FILE.failed). */
	if (failed || read_mismatches) {
		char f[4096];

		snprintf(f, sizeof(f), "%s.failed", state);
		save_state(f);
	} else {
		save_state(state);
	}
	printf("run: seed %" PRIu64 ", %d devices, %" PRIu64 " threads: %" PRIu64
	       " writes (%" PRIu64 " MiB, %" PRIu64 " with RWF_DSYNC), %" PRIu64
	       " discards and %" PRIu64 " write-zeroes (%" PRIu64 " MiB), %" PRIu64
	       " fdatasyncs, %" PRIu64 " reads, %" PRIu64 " read mismatches in %.1fs\n",
	       seed, ndevs, threads, (uint64_t)n_writes, (uint64_t)bytes_written >> 20,
	       (uint64_t)n_fua, (uint64_t)n_discards, (uint64_t)n_zeroouts,
	       (uint64_t)bytes_discarded >> 20, (uint64_t)n_syncs, (uint64_t)n_reads,
	       (uint64_t)read_mismatches, t1 - t0);
	for (int d = 0; d < ndevs; d++) {
		uint64_t written = 0;

		for (uint64_t b = 0; b < devs[d].nblocks; b++)
			written += devs[d].map[b].gen != 0;
		printf("run: %s: tag %u, %" PRIu64 " blocks, %" PRIu64 " hold data, next gen %u\n",
		       devs[d].path, devs[d].tag, devs[d].nblocks, written, devs[d].next_gen);
	}
	return failed || read_mismatches ? 1 : 0;
}

/* ---- verify ----------------------------------------------------------- */

static int all_zero(const uint8_t *b)
{
	const uint64_t *q = (const uint64_t *)b;

	for (size_t i = 0; i < BS / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

/* 1 if block b holds what entry e says. */
static int check_block(const uint8_t *b, const struct entry *e, uint64_t lba,
		       uint8_t *scratch)
{
	if (!e->gen)
		return all_zero(b);
	if (((const struct hdr *)b)->gen != e->gen || ((const struct hdr *)b)->tag != e->tag)
		return 0;
	make_block(scratch, pattern_seed, e->tag, lba, e->gen);
	return !memcmp(b, scratch, BS);
}

static void describe(char *out, size_t len, const uint8_t *b, const struct entry *e,
		     uint64_t lba)
{
	struct hdr h;
	char want[64];

	if (e->gen)
		snprintf(want, sizeof(want), "tag %u gen %u", e->tag, e->gen);
	else
		snprintf(want, sizeof(want), "zeros");
	memcpy(&h, b, sizeof(h));
	if (all_zero(b)) {
		snprintf(out, len, "expected %s, found zeros", want);
	} else if (h.magic == HDR_MAGIC && h.crc == crc32c(&h, offsetof(struct hdr, crc))) {
		uint8_t *x = aligned_alloc(BS, BS);
		const char *what;
		size_t off = 0;

		if (!x)
			die("out of memory");
		make_block(x, h.seed, h.tag, h.lba, h.gen);
		while (off < BS && x[off] == b[off])
			off++;
		free(x);
		if (h.seed != pattern_seed)
			what = "a block of another run";
		else if (!e->gen)
			what = "stale data";
		else if (h.lba != lba)
			what = h.tag == e->tag ? "another block's data" :
				"another block's data of another device";
		else if (h.tag != e->tag)
			what = "another device's data";
		else if (h.gen != e->gen)
			what = "another generation";
		else
			what = "the right header";
		if (off < BS)
			snprintf(out, len, "expected %s, found %s (tag %u lba %" PRIu64
				 " gen %u), its fill damaged at byte %zu", want, what, h.tag,
				 h.lba, h.gen, off);
		else
			snprintf(out, len, "expected %s, found %s (tag %u lba %" PRIu64
				 " gen %u)", want, what, h.tag, h.lba, h.gen);
	} else {
		size_t nz = 0;

		while (!b[nz])
			nz++;
		snprintf(out, len, "expected %s, found a foreign block (first non-zero byte "
			 "at %zu: %02x %02x %02x %02x ...)", want, nz, b[nz],
			 nz + 1 < BS ? b[nz + 1] : 0, nz + 2 < BS ? b[nz + 2] : 0,
			 nz + 3 < BS ? b[nz + 3] : 0);
	}
}

static int cmd_verify(int argc, char **argv)
{
	const char *state = NULL;
	long only = -1;
	uint64_t max_report = 10, reported = 0, total = 0, total_bad = 0;
	uint8_t *buf, *scratch;
	const size_t chunk = 256;
	int i;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];

		if (i + 1 >= argc)
			usage();
		if (!strcmp(o, "--state"))
			state = argv[++i];
		else if (!strcmp(o, "--dev"))
			only = num_arg(o, argv[++i]);
		else if (!strcmp(o, "--max-report"))
			max_report = num_arg(o, argv[++i]);
		else
			usage();
	}
	if (!state || i >= argc)
		usage();
	load_state(state);
	crc_init();
	if (only >= 0) {
		if (only >= ndevs || argc - i != 1)
			die("--dev %ld: the model has devices 0..%d; give one target", only,
			    ndevs - 1);
	} else if (argc - i != ndevs) {
		die("%s has %d devices, %d targets given", state, ndevs, argc - i);
	}
	if (posix_memalign((void **)&buf, BS, chunk * BS) ||
	    posix_memalign((void **)&scratch, BS, BS))
		die("out of memory");
	for (int t = 0; i + t < argc; t++) {
		struct dev *v = &devs[only >= 0 ? only : t];
		const char *path = argv[i + t];
		uint64_t bytes, have, bad = 0, zeros = 0, gens = 0, damaged = 0, foreign = 0;
		int is_file, fd = open_target(path, 0, &bytes, &is_file);

		have = bytes / BS;
		for (uint64_t b = 0; b < v->nblocks; b += chunk) {
			uint64_t n = v->nblocks - b < chunk ? v->nblocks - b : chunk;
			int err;

			if (b + n > have) {
				if (b < have)
					n = have - b;
				else
					break;
			}
			err = do_io(0, fd, buf, n * BS, b * BS);
			if (err)
				die("%s: read at block %" PRIu64 ": %s", path, b, strerror(-err));
			for (uint64_t k = 0; k < n; k++) {
				const uint8_t *blk = buf + k * BS;
				const struct hdr *h = (const struct hdr *)blk;

				if (check_block(blk, &v->map[b + k], b + k, scratch))
					continue;
				bad++;
				if (all_zero(blk))
					zeros++;
				else if (h->magic == HDR_MAGIC && h->lba == b + k &&
					 h->tag == v->map[b + k].tag &&
					 h->gen == v->map[b + k].gen)
					damaged++;
				else if (h->magic == HDR_MAGIC && h->lba == b + k &&
					 h->tag == v->map[b + k].tag)
					gens++;
				else
					foreign++;
				if (reported++ < max_report) {
					char d[256];

					describe(d, sizeof(d), blk, &v->map[b + k], b + k);
					printf("mismatch: %s lba %" PRIu64 ": %s\n", path, b + k, d);
				}
			}
		}
		if (have < v->nblocks) {
			printf("mismatch: %s has %" PRIu64 " blocks, the model %" PRIu64 "\n",
			       path, have, v->nblocks);
			bad += v->nblocks - have;
		}
		close(fd);
		printf("verify: %s: blocks compared %" PRIu64 ", mismatches %" PRIu64
		       " (found zeros %" PRIu64 ", other gen %" PRIu64 ", damaged %" PRIu64
		       ", other data %" PRIu64 ")\n", path, v->nblocks, bad, zeros, gens,
		       damaged, foreign);
		total += v->nblocks;
		total_bad += bad;
	}
	printf("blocks compared %" PRIu64 ", mismatches %" PRIu64 "\n", total, total_bad);
	return total_bad ? 1 : 0;
}

/* ---- derive, show ----------------------------------------------------- */

static int cmd_derive(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	struct dev src[MAX_DEVS];
	int nsrc, i, nout;
	uint32_t maxtag = 0;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--state"))
			in = argv[++i];
		else if (!strcmp(argv[i], "--out"))
			out = argv[++i];
		else
			usage();
	}
	if (!in || !out || i >= argc || argc - i > MAX_DEVS)
		usage();
	load_state(in);
	nsrc = ndevs;
	memcpy(src, devs, sizeof(src));
	for (int d = 0; d < nsrc; d++)
		if (src[d].tag > maxtag)
			maxtag = src[d].tag;
	nout = argc - i;
	for (int d = 0; d < nout; d++) {
		uint64_t k = num_arg("derive", argv[i + d]);

		if (k >= (uint64_t)nsrc)
			die("%s has devices 0..%d", in, nsrc - 1);
		devs[d] = (struct dev){ .tag = maxtag + 1 + d, .next_gen = 1,
					.nblocks = src[k].nblocks };
		devs[d].map = malloc(src[k].nblocks * sizeof(struct entry));
		if (!devs[d].map)
			die("out of memory");
		memcpy(devs[d].map, src[k].map, src[k].nblocks * sizeof(struct entry));
	}
	ndevs = nout;
	save_state(out);
	printf("derive: %d devices from %s into %s\n", nout, in, out);
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "--state"))
		usage();
	load_state(argv[1]);
	printf("state %s: pattern seed %08x, %d devices\n", argv[1], pattern_seed, ndevs);
	for (int d = 0; d < ndevs; d++) {
		uint64_t written = 0;

		for (uint64_t b = 0; b < devs[d].nblocks; b++)
			written += devs[d].map[b].gen != 0;
		printf("device %d: tag %u, %" PRIu64 " blocks, %" PRIu64
		       " hold data, next gen %u\n", d, devs[d].tag, devs[d].nblocks,
		       written, devs[d].next_gen);
	}
	return 0;
}

/*
 * superblock STORE --set-FIELD VALUE: set a feature word of a pvdisk
 * superblock (compat at byte 24, ro_compat 32, incompat 40, little-endian)
 * and recompute its checksum (crc32c of bytes 0..4 and 8..4096, stored at
 * 4), for the tests of features a driver does not know.
 * superblock STORE --flip-byte OFF: invert byte OFF of the superblock and
 * leave the checksum alone (twice restores it).
 */
static int cmd_superblock(int argc, char **argv)
{
	static const struct { const char *opt; size_t off; } fields[] = {
		{ "--set-compat", 24 }, { "--set-ro-compat", 32 }, { "--set-incompat", 40 },
	};
	uint8_t *b;
	uint64_t val, old;
	uint32_t crc;
	size_t off = 0;
	int fd;

	int flip = 0;

	if (argc != 3)
		usage();
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(argv[1], fields[i].opt))
			off = fields[i].off;
	if (!strcmp(argv[1], "--flip-byte"))
		flip = 1;
	else if (!off)
		usage();
	val = num_arg(argv[1], argv[2]);
	if (flip && val >= BS)
		usage();
	crc_init();
	if (posix_memalign((void **)&b, BS, BS))
		die("out of memory");
	fd = open(argv[0], O_RDWR | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(argv[0], O_RDWR);
	if (fd < 0)
		die("%s: %s", argv[0], strerror(errno));
	if (pread(fd, b, BS, 0) != BS)
		die("%s: cannot read the superblock", argv[0]);
	if (memcmp(b, "PVSB", 4))
		die("%s: no pvdisk superblock", argv[0]);
	if (flip) {
		b[val] ^= 0xff;
		printf("superblock: byte %" PRIu64 " flipped, checksum left as it was\n", val);
	} else {
		memcpy(&old, b + off, 8);
		memcpy(b + off, &val, 8);
		memcpy(b + 4, b, 4);	/* crc32c over bytes 0..4 then 8..4096 */
		crc = crc32c(b + 4, BS - 4);
		memcpy(b + 4, &crc, 4);
		printf("superblock: %s %#" PRIx64 " -> %#" PRIx64 "\n", argv[1] + 6, old, val);
	}
	if (pwrite(fd, b, BS, 0) != BS || fsync(fd) < 0)
		die("%s: cannot write the superblock: %s", argv[0], strerror(errno));
	close(fd);
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
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 2, argv + 2);
	if (!strcmp(argv[1], "derive"))
		return cmd_derive(argc - 2, argv + 2);
	if (!strcmp(argv[1], "superblock"))
		return cmd_superblock(argc - 2, argv + 2);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	usage();
	return 2;
}
