/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Timing of the checkpointing clients (pvdisk_checkpoint.c,
 * dm_thin_checkpoint.c): the clock, sleeping until a deadline, and the
 * percentiles of their latencies. Included by both, so that the two
 * systems are timed by the same code.
 */
#ifndef PVDISK_TESTS_CHECKPOINT_TIMING_H
#define PVDISK_TESTS_CHECKPOINT_TIMING_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ull, .tv_nsec = t % 1000000000ull };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The value at percentile p of the n sorted values. */
static uint64_t percentile(const uint64_t *v, unsigned long n, unsigned int p)
{
	unsigned long i = (n * p + 99) / 100;

	return v[i ? i - 1 : 0];
}

#endif
