#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A VDI disk under node cache pressure: a 1 GiB VDI written in small
# scattered requests (more level-1 nodes than a 1 MiB cache holds) by 16
# threads, with allocation failures injected (fail_alloc): the cache must
# evict and commit under pressure, and the model (tests/pvdisk_model.c)
# must still match through the disk, after a power cycle with a large
# cache, and in the tool's export. Reads that all miss fill the worker
# past its slots.
#
# PVDISK_MODEL_SEED repeats a run's random choices.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
ktap_header
trap pvdisk_cleanup EXIT

S=$PVDISK_DISK2
D=$PVDISK_CFS/cache
ktap_print_msg "seed $SEED (PVDISK_MODEL_SEED=$SEED to repeat)"

t_setup() {
	pvdisk_load || return 1
	pvdisk format "$S" --extent-size 4M --force && pvdisk create "$S" big --size 1G &&
	mkdir "$D" && expect_write_ok "$S" "$D/backing" && expect_write_ok big "$D/vdi" &&
	expect_write_ok 1 "$D/cache_mb" && expect_write_ok 1 "$D/power"
}
step "1 GiB VDI, cache_mb=1" t_setup

t_pressure() {
	local d left ev
	d=$(dev cache)
	# 100 requests of the disk fail their allocation while the model runs
	expect_write_ok 100 "$D/fail_alloc" || return 1
	"$M" run --seed "$SEED" --ops 3000 --threads 16 --max-blocks 2 --read-pct 30 \
		--discard-pct 5 --state /tmp/cache.state "$d" || return 1
	cat "$D/stats"
	left=$(cat "$D/fail_alloc")
	ev=$(stat_of cache cache_evictions)
	echo "fail_alloc left: $left"
	[ "$left" -lt 100 ] || { echo "no allocation failure was injected"; return 1; }
	[ "$ev" -gt 0 ] || { echo "no eviction: the test puts the cache under no pressure"; return 1; }
	"$M" verify --state /tmp/cache.state "$d"
}
step "scattered 4-8 KiB writes, reads, discards; fail_alloc 100; evictions; verified" t_pressure

# Reads that miss the 1 MiB cache all go to the disk's worker, which reads
# one node at a time: 1024 in flight at once, submitted 128 at a time, are
# more than the 256 bios the worker holds, so submitters must wait for
# slots, and nothing may hang. (A worker that keeps up for a whole try
# gets two more tries before the test fails.)
t_slots() {
	local d w0 w1 try=0
	expect_write_ok 0 "$D/power" && expect_write_ok 1 "$D/cache_mb" &&
		expect_write_ok 1 "$D/power" || return 1
	d=$(dev cache)
	w0=$(stat_of cache slot_waits)
	w1=$w0
	while [ "$w1" -eq "$w0" ] && [ $try -lt 3 ]; do
		try=$((try + 1))
		fio --name=slots --filename="$d" --ioengine=libaio --direct=1 --rw=randread \
			--bs=4k --numjobs=2 --iodepth=512 --iodepth_batch_submit=128 \
			--runtime=5 --time_based --output-format=terse >/dev/null || return 1
		w1=$(stat_of cache slot_waits)
	done
	echo "submitters waited for a slot $((w1 - w0)) times in $try tries"
	[ "$w1" -gt "$w0" ] || { echo "never waited: the test did not fill the worker"; return 1; }
	"$M" verify --state /tmp/cache.state "$d"
}
step "1024 reads in flight missing a 1 MiB cache: submitters wait for slots; verified" t_slots

t_cycle() {
	expect_write_ok 0 "$D/fail_alloc" && expect_write_ok 0 "$D/power" &&
	expect_write_ok 4096 "$D/cache_mb" && expect_write_ok 1 "$D/power" &&
	"$M" verify --state /tmp/cache.state "$(dev cache)" &&
	"$M" run --resume --seed $((SEED + 1)) --ops 1000 --threads 16 --max-blocks 2 \
		--state /tmp/cache.state "$(dev cache)" &&
	expect_write_ok 0 "$D/power"
}
step "power cycle, cache_mb=4096: verified, 1000 more ops" t_cycle

t_export() {
	rm -f /tmp/big.img
	pvdisk export "$S" big /tmp/big.img &&
	"$M" verify --state /tmp/cache.state /tmp/big.img &&
	pvdisk check "$S" >/tmp/check.out 2>&1
	local rc=$?
	cat /tmp/check.out
	rm -f /tmp/big.img
	[ $rc = 0 ] && ! grep -q leaked /tmp/check.out
}
step "power off: the export matches, check clean, no leaks" t_export

ktap_finished
