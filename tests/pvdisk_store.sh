#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The copy-on-write store through the driver: disks whose `vdi` names a
# VDI (read-write) or a snapshot (read-only) of a store made by the tool.
#
#  - model check (tests/pvdisk_model.c): random writes, overwrites,
#    discards and reads on three VDIs of one store at once; after power
#    off every VDI exported by the tool matches the model, after power on
#    again the disks do, and `pvdisk check` is clean;
#  - clones: a golden VDI snapshotted and cloned 8 times; the snapshot
#    (read-only, writes refused) and the 8 clones powered together; each
#    clone reads its own writes and the golden data elsewhere, the
#    snapshot never changes;
#  - held writes: random first writes at queue depth 64 are held and sent
#    down together (cow_held), and read back, also after a power cycle;
#  - no stale data: a VDI filled, deleted, gc'd; a new VDI reads zeros.
#
# Bad input, a full store and reloads are in pvdisk_store_admin.sh, the
# node cache under pressure in pvdisk_store_cache.sh.
# PVDISK_MODEL_SEED repeats a run's random choices.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
ktap_header
trap pvdisk_cleanup EXIT

S=$PVDISK_DISK		# the store
ktap_print_msg "seed $SEED (PVDISK_MODEL_SEED=$SEED to repeat)"

# ---- the store -------------------------------------------------------------

t_setup() {
	pvdisk_load || return 1
	pvdisk format "$S" --extent-size 4M --force &&
	pvdisk create "$S" v1 --size 64M &&
	pvdisk create "$S" v2 --size 64M &&
	pvdisk create "$S" v3 --size 48M &&
	pvdisk list "$S"
}
step "format $S (4M extents), VDIs v1 v2 (64M) v3 (48M)" t_setup

t_attrs() {
	local d=$PVDISK_CFS/a a
	mkdir "$d" || return 1
	for a in backing vdi cache_mb size stats power name read_offload; do
		[ -e "$d/$a" ] || { echo "no attribute $a"; return 1; }
	done
	expect_eq "vdi when new" "$(cat "$d/vdi")" "" &&
	expect_eq "cache_mb default" "$(cat "$d/cache_mb")" 64 &&
	expect_eq "size while off" "$(cat "$d/size")" 0 &&
	rmdir "$d"
}
step "attributes: vdi, cache_mb (64), size (0 while off), stats" t_attrs

# ---- model check: three VDIs at once ----------------------------------------

t_model_run() {
	local a b c
	a=$(store_new m1 v1) && b=$(store_new m2 v2) && c=$(store_new m3 v3) || return 1
	echo "v1 $a, v2 $b, v3 $c"
	expect_eq "v1 size attr" "$(cat "$PVDISK_CFS/m1/size")" 67108864 &&
	expect_eq "v1 size" "$(bdev_bytes "$a")" 67108864 &&
	expect_eq "v3 size" "$(bdev_bytes "$c")" 50331648 &&
	expect_eq "v1 read-only" "$(blockdev --getro "$a")" 0 &&
	"$M" run --seed "$SEED" --ops 1500 --threads 16 --state /tmp/m.state "$a" "$b" "$c" &&
	"$M" verify --state /tmp/m.state "$a" "$b" "$c" &&
	cat "$PVDISK_CFS/m1/stats" || return 1
	# The tool reads the store beside the driver; it does not write it
	# itself: an offline-only command is refused (live management goes
	# through the driver, pvdisk_manage.sh and pvdisk_live_manage.sh).
	pvdisk list "$S" || return 1
	pvdisk resize "$S" v3 56M 2>/tmp/tool.err
	r=$?
	cat /tmp/tool.err
	# 1: refused (2 would be a usage error, which proves nothing)
	expect_eq "pvdisk resize beside powered disks, exit status" $r 1 &&
		expect_eq "v3 size" "$(bdev_bytes "$c")" 50331648
}
step "model: 3 VDIs, 16 threads, 1500 writes/discards/reads, verified" t_model_run

t_stats() {
	local k v
	for k in cache_hits cache_misses cache_evictions cached_nodes dirty_nodes \
		cow_blocks cow_at_submit cow_held commits one_bio_commits reserve_free; do
		v=$(stat_of m1 $k)
		case "$v" in
		''|*[!0-9]*) echo "stats: $k is '$v'"; return 1 ;;
		esac
	done
	[ "$(stat_of m1 cached_nodes)" -gt 0 ] || { echo "no cached nodes after I/O"; return 1; }
}
step "stats: every key with a number" t_stats

t_model_export() {
	power m1 0 && power m2 0 && power m3 0 || return 1
	expect_eq "size while off" "$(cat "$PVDISK_CFS/m1/size")" 0 || return 1
	# power-off releases the holds
	pvdisk info "$S" | grep '^holds:' | grep -q none ||
		{ echo "holds left after power off:"; pvdisk info "$S"; return 1; }
	rm -f /tmp/v1.img /tmp/v2.img /tmp/v3.img
	pvdisk export "$S" v1 /tmp/v1.img && pvdisk export "$S" v2 /tmp/v2.img &&
	pvdisk export "$S" v3 /tmp/v3.img &&
	"$M" verify --state /tmp/m.state /tmp/v1.img /tmp/v2.img /tmp/v3.img
}
step "model: power off releases the holds, pvdisk export of each VDI matches" t_model_export
rm -f /tmp/v1.img /tmp/v2.img /tmp/v3.img

t_model_again() {
	# A small node cache on one of them: the same data through evictions.
	expect_write_ok 1 "$PVDISK_CFS/m2/cache_mb" &&
	power m1 1 && power m2 1 && power m3 1 &&
	"$M" verify --state /tmp/m.state "$(dev m1)" "$(dev m2)" "$(dev m3)" &&
	"$M" run --resume --seed $((SEED + 1)) --ops 600 --threads 8 --state /tmp/m.state \
		"$(dev m1)" "$(dev m2)" "$(dev m3)" &&
	cat "$PVDISK_CFS/m2/stats" && power m1 0 && power m2 0 && power m3 0
}
step "model: power on, verify, 600 more ops (cache_mb=1 on one), power off" t_model_again

step "model: pvdisk check clean, no leaks" check_clean "$S"

# ---- held copy-on-write writes ----------------------------------------------

# A copy-on-write write that arrives while four or more writes' data is
# on the device is held; the worker sends the held ones down together, in
# block order, and the block layer merges neighbours. fio's 4 KiB random
# first writes, 64 in flight and submitted 32 at a time, must be held
# (cow_held) and read back (crc32c), also after a power cycle. Under the
# debug kernel few are (the device completes a write about as fast as the
# guest submits the next: 4 to 44 of a run's writes were held), so up to
# three runs go to fresh 4 MiB regions until one is.
held_fio() {
	local f=$1
	shift
	fio --name=held --filename="$f" --ioengine=libaio --direct=1 --rw=randwrite \
		--bs=4k --iodepth=64 --iodepth_batch_submit=32 --size=4M --verify=crc32c \
		--verify_fatal=1 --output-format=terse "$@" >/tmp/held.out 2>&1 ||
		{ cat /tmp/held.out; return 1; }
}

# held_verify N: read back and check the first N 4 MiB regions through
# disk h
held_verify() {
	local i=0
	while [ $i -lt "$1" ]; do
		held_fio "$(dev h)" --offset=$((i * 4))M --verify_only=1 || return 1
		i=$((i + 1))
	done
}

t_held() {
	local d held=0 try=0 reads
	pvdisk create "$S" h --size 16M && d=$(store_new h h) || return 1
	while [ "$held" -eq 0 ] && [ $try -lt 3 ]; do
		held_fio "$d" --offset=$((try * 4))M || return 1
		try=$((try + 1))
		held=$(stat_of h cow_held)
	done
	echo "copy-on-write writes started at submission $(stat_of h cow_at_submit)," \
		"held $held, in $try runs"
	[ "$held" -gt 0 ] || { echo "none held: no write arrived while others were in flight"; return 1; }
	# Verified again after a power cycle: first with read_offload 0 (set
	# while off, kept at power on), every read mapped by its submitter;
	# then with 1, set while powered, the worker maps those that find a
	# bio of the store in flight (worker_reads).
	power h 0 && expect_write_ok 0 "$PVDISK_CFS/h/read_offload" && power h 1 || return 1
	held_verify $try || return 1
	reads=$(stat_of h worker_reads)
	expect_eq "reads handed to the worker with read_offload 0" "$reads" 0 || return 1
	expect_write_ok 1 "$PVDISK_CFS/h/read_offload" && held_verify $try || return 1
	reads=$(stat_of h worker_reads)
	echo "reads handed to the worker with read_offload 1: $reads"
	[ "$reads" -gt 0 ] || { echo "no read went to the worker at depth 64"; return 1; }
	power h 0
}
step "held writes: 4 KiB random first writes at depth 64 held, verified, also after a power cycle (read_offload 0, then 1: reads by the worker)" t_held
step "held writes: pvdisk check clean, no leaks" check_clean "$S"

# ---- clones ----------------------------------------------------------------

t_golden() {
	local g
	pvdisk create "$S" golden --size 32M || return 1
	g=$(store_new g golden) || return 1
	"$M" run --seed $((SEED + 2)) --ops 600 --threads 8 --discard-pct 5 \
		--state /tmp/g.state "$g" && power g 0 &&
	pvdisk snapshot "$S" golden --label gold || return 1
	for i in 1 2 3 4 5 6 7 8; do
		pvdisk create "$S" "c$i" --from gold || return 1
	done
	pvdisk tree "$S"
}
step "clones: golden VDI written, snapshot 'gold', 8 clones by the tool" t_golden

t_clones() {
	local snap devs="" i rc=0 vpid ppid
	snap=$(store_new snap gold) || return 1
	expect_eq "snapshot disk read-only" "$(blockdev --getro "$snap")" 1 || return 1
	for i in 1 2 3 4 5 6 7 8; do
		devs="$devs $(store_new "c$i" "c$i")" || return 1
	done
	echo "snapshot $snap, clones$devs"
	"$M" verify --state /tmp/g.state "$snap" || return 1
	"$M" derive --state /tmp/g.state --out /tmp/c.state 0 0 0 0 0 0 0 0 || return 1
	# The snapshot is read while the clones are written.
	( i=0; while [ $i -lt 3 ]; do
		"$M" verify --state /tmp/g.state --max-report 3 "$snap" >/tmp/snapv.out || exit 1
		i=$((i + 1)); done ) &
	vpid=$!
	# Another VDI of the store powered on, verified and off meanwhile.
	( i=0; while [ $i -lt 4 ]; do
		power m1 1 && "$M" verify --state /tmp/m.state --dev 0 --max-report 3 "$(dev m1)" \
			>/tmp/m1v.out && power m1 0 || exit 1
		i=$((i + 1)); done ) &
	ppid=$!
	# shellcheck disable=SC2086
	"$M" run --resume --seed $((SEED + 3)) --ops 1200 --threads 16 \
		--state /tmp/c.state $devs || rc=1
	wait $vpid || { echo "snapshot changed while the clones were written:"; cat /tmp/snapv.out; rc=1; }
	wait $ppid || { echo "v1 power cycles beside the clones failed:"; cat /tmp/m1v.out; rc=1; }
	# shellcheck disable=SC2086
	"$M" verify --state /tmp/c.state $devs && "$M" verify --state /tmp/g.state "$snap" || rc=1
	return $rc
}
step "clones: snapshot (ro), 8 clones, 1200 ops on the clones; v1 power cycled beside" t_clones

t_snap_write() {
	local snap rc=0
	snap=$(dev snap)
	if dd if=/dev/zero of="$snap" bs=4k count=1 seek=10 oflag=direct 2>/tmp/dd.err; then
		echo "a write to the snapshot disk succeeded"
		rc=1
	fi
	cat /tmp/dd.err
	if blkdiscard -o 0 -l 1048576 "$snap" 2>/tmp/dd.err; then
		echo "a discard on the snapshot disk succeeded"
		rc=1
	fi
	cat /tmp/dd.err
	# The read-only flag cleared by hand: the driver itself must refuse.
	blockdev --setrw "$snap" 2>/dev/null
	echo "after blockdev --setrw: read-only $(blockdev --getro "$snap")"
	if dd if=/dev/zero of="$snap" bs=4k count=1 seek=20 oflag=direct 2>/tmp/dd.err; then
		echo "a write to the snapshot disk succeeded after blockdev --setrw"
		rc=1
	fi
	cat /tmp/dd.err
	blockdev --setro "$snap" 2>/dev/null
	"$M" verify --state /tmp/g.state "$snap" || rc=1
	return $rc
}
step "clones: a write and a discard to the snapshot disk fail, it is unchanged" t_snap_write

t_snap_twice() {
	local s2 g
	s2=$(store_new snap2 golden@1) && g=$(store_new g2 golden) || return 1
	expect_eq "golden@1 read-only" "$(blockdev --getro "$s2")" 1 &&
	expect_eq "golden read-only" "$(blockdev --getro "$g")" 0 &&
	"$M" verify --state /tmp/g.state "$s2" && "$M" verify --state /tmp/g.state "$g" || return 1
	power snap2 0 && power g2 0 && rmdir "$PVDISK_CFS/snap2" "$PVDISK_CFS/g2"
}
step "clones: the snapshot again as golden@1, and golden itself, beside it" t_snap_twice

t_clones_off() {
	local i
	power snap 0 || return 1
	for i in 1 2 3 4 5 6 7 8; do
		power "c$i" 0 || return 1
	done
	rm -f /tmp/gold.img /tmp/c5.img
	pvdisk export "$S" gold /tmp/gold.img && pvdisk export "$S" c5 /tmp/c5.img &&
	"$M" verify --state /tmp/g.state /tmp/gold.img &&
	"$M" verify --state /tmp/c.state --dev 4 /tmp/c5.img &&
	check_clean "$S"
}
step "clones: power off; exported snapshot and a clone match; check clean, no leaks" t_clones_off
rm -f /tmp/gold.img /tmp/c5.img

# ---- no stale data ---------------------------------------------------------

t_stale() {
	local f n
	pvdisk create "$S" fill --size 32M || return 1
	f=$(store_new f fill) || return 1
	# Every block non-zero, then model blocks over part of it.
	tr '\000' '\252' </dev/zero | dd of="$f" bs=1M count=32 oflag=direct iflag=fullblock 2>/dev/null || return 1
	"$M" run --seed $((SEED + 4)) --ops 300 --threads 8 --read-pct 0 --discard-pct 0 \
		--state /tmp/f.state "$f" >/dev/null || return 1
	power f 0 && rmdir "$PVDISK_CFS/f" || return 1
	pvdisk delete "$S" fill && pvdisk gc "$S" && pvdisk create "$S" fresh --size 32M || return 1
	n=$(store_new n fresh) || return 1
	# An empty model: the whole VDI must read as zeros, before and while
	# it is written (its new nodes and data land on freed blocks).
	"$M" run --seed $((SEED + 5)) --ops 0 --threads 1 --state /tmp/n.state "$n" >/dev/null &&
	"$M" verify --state /tmp/n.state "$n" &&
	"$M" run --resume --seed $((SEED + 6)) --ops 800 --threads 16 --read-pct 50 \
		--max-blocks 4 --state /tmp/n.state "$n" &&
	"$M" verify --state /tmp/n.state "$n" &&
	power n 0 && rmdir "$PVDISK_CFS/n" &&
	pvdisk delete "$S" fresh && pvdisk gc "$S" && check_clean "$S"
}
step "no stale data: fill, delete, gc; a new VDI reads zeros, also while written" t_stale

ktap_finished
