#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: fio inside the test VM on the same scratch disk (/dev/vdb)
# used raw, as a VDI of a pvdisk store (/dev/pvdisk0), through pvdisk's
# pass-through of the raw device, through a dm-thin volume (metadata on
# /dev/vda) and as the origin of a classic dm-snapshot (exception store on
# /dev/vdc). Prints MB/s and IOPS per job and the ratio to raw, then the
# node cache experiment, pvdisk's metadata cost and the online snapshot
# figures. Never part of the test run: numbers under TCG measure the
# guest CPU cost of each layer more than any disk.
#
#   scripts/bench.sh [TARGET...]   TARGET: raw pvdisk passthru dm-thin
#                                  dm-snap cache snap paired (default: all)
# Environment: BENCH_RUNTIME (seconds per timed job, default 10),
#              BENCH_SIZE_MB (region per job in MiB, default 512),
#              BENCH_ROUNDS (rounds, default 3),
#              BENCH_SMP (the VM's CPUs, default 2),
#              BENCH_BUS (how the disks are attached, vm.sh --bus:
#              virtio, the default, has no FUA; scsi has),
#              BENCH_PIN (1, the default: fio on CPU 0, the disks'
#              interrupts on the last CPU, scripts/bench-placement.sh;
#              0: where the kernel puts them);
#   for snap:  BENCH_SNAP_MB (its region in MiB, default 256),
#              BENCH_SNAP_IDLE (idle snapshots, default 100),
#              BENCH_SNAP_RATES (pvdisk's snapshots per second under
#              load, default "1 10 100"), BENCH_SNAP_THIN_RATES
#              (dm-thin's, default "1 10"), BENCH_CLONES (default 1000),
#              BENCH_CLONES_ON (clones powered on, default 16).
#
# TCG timing drifts by tens of percent over minutes, so the targets take
# turns: each round runs every target once, each ratio is taken within a
# round (target and raw minutes apart, not tens of minutes), and the table
# gives the median over rounds with the lowest and highest ratio.
#
# Jobs, in this order on each target (direct, libaio, queue depth 32 but
# fsync-write), on a fresh device (a new VDI, thin volume, ...):
#   seq-write        1M sequential over region 1, once: first writes
#   seq-read         1M sequential reads of region 1
#   seq-overwrite    1M sequential writes over region 1 again: in place
#   rand-write       4k random writes in region 1: in place
#   rand-read        4k random reads in region 1
#   first-rand-write 4k random writes in region 2, never written: first
#                    writes (the random map never writes a block twice)
#   (a snapshot is taken: pvdisk with the tool, dm-thin with create_snap)
#   snap-rand-write  4k random writes in region 1 right after the
#                    snapshot: every write copies (pvdisk a path, dm-thin
#                    a 64 KiB block)
#   fsync-write      4k random writes in region 3 (first writes), queue
#                    depth 1, an fsync after each
# Regions are BENCH_SIZE_MB each, one after the other from offset 0.
# `cache`: random 4k reads over a fully written 1 GiB VDI with cache_mb
# 1, 4 and 64: IOPS, cache hit rate and the kernel memory the powered disk
# holds (Slab + page tables difference from before power-on).
# `snap`: online snapshots, pvdisk's PVDISK_IOC_SNAPSHOT (through
# tests/pvdisk_checkpoint) beside dm-thin's suspend + create_snap +
# resume (tests/dm_thin_checkpoint: the same three device-mapper ioctls
# as the three dmsetup commands, timed together, without their process
# start-up). Each job on a fresh store or pool whose BENCH_SNAP_MB
# region (VDI, thin volume) is written once first:
#   - 4k random writes (queue depth 32, BENCH_RUNTIME s) without
#     snapshots, then BENCH_SNAP_IDLE snapshots at 10/s with no I/O:
#     the IOPS all ratios refer to, and the idle latency;
#   - for each rate (pvdisk 1, 10, 100/s; dm-thin 1, 10/s): the same
#     random writes while the client takes rate x BENCH_RUNTIME
#     snapshots at that rate: IOPS as a ratio to no snapshots within the
#     round, and the snapshot latency under load (p50, p99, max);
#   - the same idle and rate runs for pvdisk-lazy: snapshots with
#     PVDISK_SNAPSHOT_LAZY (they return once in the tree and are durable
#     at the disk's next commit), IOPS ratios to pvdisk's run without;
#   - pvdisk only: the region written sequentially (1M, first writes,
#     rate-limited to last BENCH_RUNTIME s, fsync at the end) into two
#     fresh VDIs, the second with a snapshot every 10 ms; the metadata
#     per snapshot is the store's meta_writes difference (4 KiB blocks)
#     over the snapshots taken, in all and beyond the first VDI's;
#   - pvdisk only, tool offline: BENCH_CLONES clones of one snapshot
#     made by one `pvdisk create c --from gold --count BENCH_CLONES`
#     process (c-1 .. c-N in one transaction: a root and a record per
#     clone, a constant number of syncs; start-up included), timed in
#     all and per clone, then BENCH_CLONES_ON of them powered on through
#     configfs, timed.
# `paired`: jobs interleaved in short slices, so that the host's drift,
# which moves a 10 s job by tens of percent from one minute to the next,
# cancels. The targets are set up once: the raw disk (vdc), a VDI on vdb,
# the pass-through of vdc, device-mapper's linear target over vdc (the
# kernel's own bio remapping, the floor of any stacking driver in this
# VM) and a dm-thin volume (metadata vda, data vdc, 64 KiB blocks); the
# last three are set up and removed around each of their slices, as each
# opens vdc exclusively. The in-place jobs (rand-read, rand-write,
# seq-read, seq-overwrite) run over a region written once at setup; the
# first-write jobs each slice into a region never written before (not on
# the pass-through or dm-linear, where a first write is any write):
# first-rand-write into one of BENCH_PAIRED_FRESH_RAND_MB (default 2048),
# fsync-write (queue depth 1, an fsync after each write) into one of
# BENCH_PAIRED_FRESH_MB (default 1024): each large against its slice's
# writes times dm-thin's 64 KiB block, so that most of dm-thin's writes
# provision a block too (a THINNEW line after each dm-thin slice says
# how many did); first-seq-write (1 MiB) into one of 512 MiB, written
# once.
# snap-rand-write runs 4k random writes right after a snapshot, on a
# second VDI (pvdisk: PVDISK_IOC_SNAPSHOT through
# tests/pvdisk_checkpoint) and a second thin volume (dm-thin:
# tests/dm_thin_checkpoint), each with its region written at setup, so
# that every write copies (pvdisk a path, dm-thin a 64 KiB block) and the
# in-place jobs stay in place; the raw disk runs rand-write for it.
# BENCH_PAIRED_JOBS picks some of the jobs (default all, in that order).
# BENCH_PAIRED_ALT="ATTR=VALUE ..." adds a target pvdisk-alt: the same
# VDIs with those configfs attributes (e.g. read_offload=0) set for its
# slices only and put back after, first writes into regions of its own;
# its last column is its ratio to pvdisk's slice of the repetition, an
# A/B of one setting within one run. BENCH_PAIRED_TARGETS picks the
# targets (default raw pvdisk passthru dm-linear dm-thin; keep raw, the
# ratios' base).
# Every target runs each job for BENCH_PAIRED_SLICE s
# (default 3), BENCH_PAIRED_REPS times (default 7), in an order that
# rotates from one repetition to the next; each ratio is to the raw slice
# (or dm-thin's) of the same repetition, and the table gives their
# median and range.
# `pvdisk check` runs on every store after its job.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

targets=${*:-raw pvdisk passthru dm-thin dm-snap cache snap paired}
runtime=${BENCH_RUNTIME:-10}
smp=${BENCH_SMP:-2}
bus=${BENCH_BUS:-virtio}
size_mb=${BENCH_SIZE_MB:-512}
rounds=${BENCH_ROUNDS:-3}
snap_mb=${BENCH_SNAP_MB:-256}
snap_idle=${BENCH_SNAP_IDLE:-100}
snap_rates=${BENCH_SNAP_RATES:-1 10 100}
snap_thin_rates=${BENCH_SNAP_THIN_RATES:-1 10}
snap_clones=${BENCH_CLONES:-1000}
snap_on=${BENCH_CLONES_ON:-16}
pin=${BENCH_PIN:-1}
paired_slice=${BENCH_PAIRED_SLICE:-3}
paired_reps=${BENCH_PAIRED_REPS:-7}
paired_jobs=${BENCH_PAIRED_JOBS:-rand-read rand-write seq-read seq-overwrite first-rand-write first-seq-write fsync-write snap-rand-write}
paired_alt=${BENCH_PAIRED_ALT:-}
paired_targets=${BENCH_PAIRED_TARGETS:-raw pvdisk passthru dm-linear dm-thin}
# The paired first-write jobs' fresh regions, in MiB: one per slice of
# first-rand-write (fresh_rand) and fsync-write; one per slice of
# first-seq-write, written once, not wrapped around (that would
# overwrite), so its slice ends when the region is full or at the slice's
# time.
paired_fresh_rand_mb=${BENCH_PAIRED_FRESH_RAND_MB:-2048}
paired_fresh_mb=${BENCH_PAIRED_FRESH_MB:-1024}
paired_fresh_seq_mb=512

# The kernel without debug checkers (scripts/kernel-bench.config), unless
# told otherwise (PVDISK_KERNEL_VARIANT= for the test kernel itself).
export PVDISK_KERNEL_VARIANT=${PVDISK_KERNEL_VARIANT-bench}
echo "bench: building (deps, kernel, module, tool; incremental)"
buildlog=$(mktemp)
trap 'rm -f "$buildlog"' EXIT
if ! "$here/test.sh" --build-only >"$buildlog" 2>&1; then
	cat "$buildlog"
	echo "bench: build failed" >&2
	exit 1
fi

guest=$(cat <<GUEST
RUNTIME=$runtime
SIZE_MB=$size_mb
ROUNDS=$rounds
TARGETS="$targets"
SNAP_MB=$snap_mb
SNAP_IDLE=$snap_idle
SNAP_RATES="$snap_rates"
SNAP_THIN_RATES="$snap_thin_rates"
SNAP_CLONES=$snap_clones
SNAP_ON=$snap_on
PAIRED_SLICE=$paired_slice
PAIRED_REPS=$paired_reps
PAIRED_JOBS="$paired_jobs"
PAIRED_ALT="$paired_alt"
PAIRED_TARGETS="$paired_targets"
FRESH_RAND_MB=$paired_fresh_rand_mb
FRESH_MB=$paired_fresh_mb
FRESH_SEQ_MB=$paired_fresh_seq_mb
GUEST
cat "$here/bench-placement.sh"
echo "pin_placement $([ "$pin" = 1 ] || echo off)"
cat <<'GUEST'
FIO="fio $FIO_PIN --direct=1 --group_reporting --output-format=terse --terse-version=3"
MB=1048576
JOBS1="seq-write seq-read seq-overwrite rand-write rand-read first-rand-write"
JOBS2="snap-rand-write fsync-write"
C=/sys/kernel/config/pvdisk
# job_args JOB: fio arguments of a job
job_args() {
	local r1=0 r2=$((SIZE_MB * MB)) r3=$((2 * SIZE_MB * MB))
	local aio="--ioengine=libaio --iodepth=32" timed="--time_based --runtime=$RUNTIME"
	case $1 in
	seq-write) echo "$aio --rw=write --bs=1M --offset=$r1" ;;
	seq-read) echo "$aio $timed --rw=read --bs=1M --offset=$r1" ;;
	seq-overwrite) echo "$aio $timed --rw=write --bs=1M --offset=$r1" ;;
	rand-write|snap-rand-write) echo "$aio $timed --rw=randwrite --bs=4k --offset=$r1" ;;
	rand-read) echo "$aio $timed --rw=randread --bs=4k --offset=$r1" ;;
	first-rand-write) echo "$aio $timed --rw=randwrite --bs=4k --offset=$r2" ;;
	fsync-write) echo "--ioengine=psync --iodepth=1 --fsync=1 $timed --rw=randwrite --bs=4k --offset=$r3" ;;
	esac
}
# run_jobs LABEL DEVICE JOB... (and $round)
run_jobs() {
	local label=$1 dev=$2 name line
	shift 2
	for name in "$@"; do
		# shellcheck disable=SC2046
		line=$($FIO --name="$name" --filename="$dev" --size="${SIZE_MB}M" \
			$(job_args "$name") 2>/dev/null | tail -n 1)
		# terse v3: field 7/8 read KiB/s and IOPS, 48/49 write.
		echo "$line" | awk -F';' -v r="$round" -v t="$label" -v n="$name" '
			NF > 50 { kb = $7 + $48; io = $8 + $49;
				printf "BENCH %s %s %s %.1f %.0f\n", r, t, n, kb * 1024 / 1e6, io; ok = 1 }
			END { if (!ok) printf "BENCH %s %s %s fail fail\n", r, t, n }'
	done
}
stat_of() { sed -n "s/^$2 //p" "$C/$1/stats"; }
# vdi_on NAME VDI [CACHE_MB]: power a disk on VDI of the store on vdb
vdi_on() {
	mkdir -p "$C/$1" && echo /dev/vdb > "$C/$1/backing" && echo "$2" > "$C/$1/vdi" &&
		echo "${3:-64}" > "$C/$1/cache_mb" && echo 1 > "$C/$1/power"
}
vdi_off() { echo 0 > "$C/$1/power"; }
# now_us: wall clock in microseconds (busybox date has no %N)
now_us() { adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%d%06d\n", s, u }'; }
# snap_fill DEV: write the snapshot jobs' region once, so that their
# random writes overwrite in place until a snapshot shares the blocks
snap_fill() {
	$FIO --name=fill --filename="$1" --ioengine=libaio --iodepth=32 --rw=write \
		--bs=1M --size="${SNAP_MB}M" >/dev/null 2>&1
}
# snap_iops DEV: IOPS of 4k random writes, queue depth 32, over the region
snap_iops() {
	$FIO --name=snap --filename="$1" --ioengine=libaio --iodepth=32 --rw=randwrite \
		--bs=4k --size="${SNAP_MB}M" --time_based --runtime="$RUNTIME" 2>/dev/null |
		tail -n 1 | awk -F';' 'NF > 50 && $49 > 0 { printf "%.0f\n", $49; ok = 1 }
			END { if (!ok) print "fail" }'
}
# snap_take SYSTEM STATE RATE CHECKPOINT ARG...: run the checkpointing
# client (its summary line last) and print a SNAPLAT line: round, system,
# state, rate, then snapshots p50 p99 max (us), late, elapsed (us)
snap_take() {
	local sys=$1 state=$2 rate=$3 t0 t1 out
	shift 3
	t0=$(now_us)
	out=$("$@" 2>&1 | tail -n 1)
	t1=$(now_us)
	echo "$out" | awk -v r="$round" -v s="$sys" -v st="$state" -v rt="$rate" -v e=$((t1 - t0)) '
		$1 == "snapshots" { print "SNAPLAT", r, s, st, rt, $2, $4, $6, $8, $10, e; ok = 1 }
		END { if (!ok) print "SNAPLAT", r, s, st, rt, "fail" }'
	case $out in snapshots*) ;; *) echo "bench: $sys $state: $out" ;; esac
}
# snap_load SYSTEM RATE DEV [CHECKPOINT ARG...]: the random write job
# while CHECKPOINT takes RATE snapshots a second for as long (rate 0:
# none); prints SNAPIOPS and, with snapshots, SNAPLAT
snap_load() {
	local sys=$1 rate=$2 dev=$3 ck iops prog
	if [ "$rate" = 0 ]; then
		echo "SNAPIOPS $round $sys 0 $(snap_iops "$dev")"
		return
	fi
	prog=$4
	shift 4
	snap_take "$sys" load "$rate" "$prog" -q -r "$rate" -n $((rate * RUNTIME)) "$@" >/tmp/snap.lat &
	ck=$!
	iops=$(snap_iops "$dev")
	wait $ck
	cat /tmp/snap.lat
	echo "SNAPIOPS $round $sys $rate $iops"
}
# pv_up: a fresh store on vdb with VDI s (the region), powered, filled
pv_up() {
	pvdisk format /dev/vdb --extent-size 64M --force >/dev/null &&
		pvdisk create /dev/vdb s --size "${SNAP_MB}M" >/dev/null && vdi_on s s &&
		PV=/dev/$(cat $C/s/name) && snap_fill "$PV" ||
		{ echo "bench: pvdisk setup failed"; dmesg | tail -5; return 1; }
}
pv_down() {
	vdi_off s; rmdir $C/s
	pv_check
}
# pv_check: pvdisk check of the store on vdb, its output only if it fails
pv_check() {
	pvdisk check /dev/vdb >/tmp/check.out 2>&1 ||
		{ tail -n 5 /tmp/check.out; echo "bench: pvdisk check failed"; }
}
# thin_up: a fresh pool (metadata vda, data vdb, 64 KiB blocks, failing
# writes rather than queueing them when out of space) with thin volume 0
# (the region) as bthin, filled
thin_up() {
	dd if=/dev/zero of=/dev/vda bs=4k count=1 2>/dev/null
	dmsetup create bpool --table "0 $sectors thin-pool /dev/vda /dev/vdb 128 0 1 error_if_no_space" &&
		dmsetup mknodes && dmsetup message bpool 0 "create_thin 0" &&
		dmsetup create bthin --table "0 $((SNAP_MB * 2048)) thin /dev/mapper/bpool 0" &&
		dmsetup mknodes && snap_fill /dev/mapper/bthin || {
		echo "bench: dm-thin setup failed"
		dmsetup remove bthin 2>/dev/null; dmsetup remove bpool 2>/dev/null; dmsetup mknodes
		return 1
	}
}
thin_down() {
	case $(dmsetup status bpool) in
	*out_of_data_space*) echo "bench: dm-thin pool out of data space (the figures above are not valid)" ;;
	esac
	dmsetup remove bthin; dmsetup remove bpool; dmsetup mknodes
}
# The paired target's jobs: in place (on the region written at setup),
# then first writes (each slice into a region of FRESH_MB never written,
# at FRESH_AT MiB and on; first-seq-write into one of FRESH_SEQ_MB):
# PAIRED_JOBS, from BENCH_PAIRED_JOBS.
# paired_slice TARGET JOB REP DEV FRESH: one slice of JOB on DEV (FRESH:
# the MiB offset of the fresh region of a first-write job), a PAIRED line
paired_slice() {
	local args
	case $2 in
	rand-read) args="--rw=randread --bs=4k" ;;
	rand-write|snap-rand-write) args="--rw=randwrite --bs=4k" ;;
	seq-read) args="--rw=read --bs=1M" ;;
	seq-overwrite) args="--rw=write --bs=1M" ;;
	first-rand-write) args="--rw=randwrite --bs=4k --offset=${5}M" ;;
	first-seq-write) args="--rw=write --bs=1M --offset=${5}M --size=${FRESH_SEQ_MB}M" ;;
	fsync-write) args="--rw=randwrite --bs=4k --offset=${5}M --ioengine=psync --iodepth=1 --fsync=1" ;;
	esac
	case $2 in
	first-seq-*) ;;
	first-rand-*) args="$args --size=${FRESH_RAND_MB}M --time_based" ;;
	fsync-*) args="$args --size=${FRESH_MB}M --time_based" ;;
	*) args="$args --size=${SIZE_MB}M --time_based" ;;
	esac
	local c0 c1
	c0=$(busy_ticks)
	# shellcheck disable=SC2086
	$FIO --name="$2" --filename="$4" --ioengine=libaio --iodepth=32 \
		--runtime="$PAIRED_SLICE" $args 2>/dev/null | tail -n 1 >/tmp/slice.out
	c1=$(busy_ticks)
	# IOPS, and the guest's CPU time (all CPUs, fio's included) per I/O
	# in microseconds: ticks of 10 ms over reads + writes (IOPS times
	# runtime in ms, terse fields 8, 9 and 49, 50)
	awk -F';' -v r="$3" -v t="$1" -v n="$2" -v busy=$((c1 - c0)) '
		NF > 50 { ios = ($8 * $9 + $49 * $50) / 1000
			printf "PAIRED %s %s %s %.0f %.1f\n", r, t, n, $8 + $49, ios ? busy * 10000 / ios : 0; ok = 1 }
		END { if (!ok) printf "PAIRED %s %s %s fail\n", r, t, n }' /tmp/slice.out
}
# busy_ticks: the guest's CPU time so far but idle and iowait, in ticks
# of 10 ms (/proc/stat's first line: user nice system idle iowait irq
# softirq steal)
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# thin_pair_up, thin_pair_down: the paired dm-thin pool (metadata vda,
# data vdc, 64 KiB blocks as the dm-thin target) and its volume bpthin,
# which keep their mappings from one slice to the next
thin_pair_pool() {
	dmsetup create bppool --table "0 $(blockdev --getsz /dev/vdc) thin-pool /dev/vda /dev/vdc 128 0" &&
		dmsetup mknodes
}
thin_pair_up() {
	thin_pair_pool &&
		dmsetup create bpthin --table "0 $((PAIRED_THIN_MB * 2048)) thin /dev/mapper/bppool 0" &&
		dmsetup mknodes
}
thin_pair_down() { dmsetup remove bpthin; dmsetup remove bppool; dmsetup mknodes; }
# thin_snap_up, thin_snap_down: the pool with the snapshot job's volume
# (thin id 1) instead
thin_snap_up() {
	thin_pair_pool &&
		dmsetup create bpsnap --table "0 $((SIZE_MB * 2048)) thin /dev/mapper/bppool 1" &&
		dmsetup mknodes
}
thin_snap_down() { dmsetup remove bpsnap; dmsetup remove bppool; dmsetup mknodes; }
# alt_set VDI: set PAIRED_ALT's attributes on the disk of VDI;
# alt_reset VDI: put back what they were (ALT_BASE, read at setup)
alt_set() {
	local kv
	for kv in $PAIRED_ALT; do echo "${kv#*=}" > "$C/$1/${kv%%=*}"; done
}
alt_reset() {
	local kv
	for kv in $ALT_BASE; do echo "${kv#*=}" > "$C/$1/${kv%%=*}"; done
}
# paired_snap_run TARGET REP: a snapshot (not timed), then the
# snap-rand-write slice on the snapshot job's VDI or thin volume (their
# snapshots take thin ids 2, 3, ...)
paired_snap_run() {
	local d
	case $1 in
	pvdisk|pvdisk-alt)
		d=/dev/$(cat $C/psnap/name)
		[ "$1" = pvdisk ] || alt_set psnap
		/tests/pvdisk_checkpoint -q -n 1 "$d" >/dev/null &&
			paired_slice "$1" snap-rand-write "$2" "$d" 0
		[ "$1" = pvdisk ] || alt_reset psnap ;;
	dm-thin)
		thin_snap_up && /tests/dm_thin_checkpoint bppool bpsnap 1 $(($2 + 1)) -n 1 -q >/dev/null &&
			paired_slice dm-thin snap-rand-write "$2" /dev/mapper/bpsnap 0
		thin_snap_down ;;
	esac
}
# paired_run TARGET JOB REP FRESH: set TARGET up over its device, run the
# slice, take it down again (the pass-through, dm-linear and dm-thin
# each open vdc exclusively)
paired_run() {
	case $1/$2 in
	pvdisk*/snap-*|dm-thin/snap-*) paired_snap_run "$1" "$3"; return ;;
	esac
	case $1 in
	raw) paired_slice raw "$2" "$3" /dev/vdc $(($4 + RAW_FRESH_AT)) ;;
	pvdisk) paired_slice pvdisk "$2" "$3" "/dev/$(cat $C/paired/name)" "$4" ;;
	pvdisk-alt)
		alt_set paired &&
			paired_slice pvdisk-alt "$2" "$3" "/dev/$(cat $C/paired/name)" $(($4 + ALT_FRESH_AT))
		alt_reset paired ;;
	passthru)
		mkdir -p $C/pt && echo /dev/vdc > $C/pt/backing && echo 1 > $C/pt/power &&
			paired_slice passthru "$2" "$3" "/dev/$(cat $C/pt/name)" "$4"
		echo 0 > $C/pt/power ;;
	dm-linear)
		dmsetup create blinear --table "0 $((SIZE_MB * 2048)) linear /dev/vdc 0" &&
			dmsetup mknodes && paired_slice dm-linear "$2" "$3" /dev/mapper/blinear "$4"
		dmsetup remove blinear; dmsetup mknodes ;;
	dm-thin)
		local used
		thin_pair_up && used=$(thin_used) &&
			paired_slice dm-thin "$2" "$3" /dev/mapper/bpthin "$4" &&
			case $2 in
			first-*|fsync-*) echo "THINNEW $3 $2 $(($(thin_used) - used))" ;;
			esac
		thin_pair_down ;;
	esac
}
# thin_used: the paired pool's data blocks in use (dmsetup status:
# transaction, metadata used/total, data used/total, ...)
thin_used() { dmsetup status bppool | awk '{ split($6, d, "/"); print d[1] }'; }
# paired_fill DEV: write the in-place region once
paired_fill() {
	$FIO --name=fill --filename="$1" --ioengine=libaio --iodepth=32 --rw=write \
		--bs=1M --size="${SIZE_MB}M" >/dev/null 2>&1
}
paired() {
	local rep=0 job t order fresh=$SIZE_MB
	# The VDI and the thin volume hold the in-place region and every
	# fresh region; the raw disk's fresh regions start beyond what the
	# thin pool allocates on vdc.
	PAIRED_THIN_MB=$((SIZE_MB + PAIRED_REPS * (FRESH_RAND_MB + FRESH_MB + FRESH_SEQ_MB)))
	# pvdisk-alt's fresh regions follow pvdisk's, in the same VDI.
	ALT_FRESH_AT=0
	[ -z "$PAIRED_ALT" ] || ALT_FRESH_AT=$((PAIRED_THIN_MB - SIZE_MB))
	# ... and beyond the snapshot job's volume: its region, copied at
	# most once a repetition.
	RAW_FRESH_AT=$((PAIRED_THIN_MB + (PAIRED_REPS + 1) * SIZE_MB))
	modprobe dm_mod 2>/dev/null
	modprobe dm_thin_pool 2>/dev/null
	modprobe pvdisk || { echo "bench: paired: no pvdisk module"; return; }
	pvdisk format /dev/vdb --extent-size 64M --force >/dev/null &&
		pvdisk create /dev/vdb paired --size "$((PAIRED_THIN_MB + ALT_FRESH_AT))M" >/dev/null &&
		vdi_on paired paired && pvdisk create /dev/vdb psnap --size "${SIZE_MB}M" >/dev/null &&
		vdi_on psnap psnap || { echo "bench: paired: pvdisk setup failed"; return; }
	dd if=/dev/zero of=/dev/vda bs=4k count=1 2>/dev/null
	thin_pair_pool && dmsetup message bppool 0 "create_thin 0" &&
		dmsetup message bppool 0 "create_thin 1" && dmsetup remove bppool &&
		thin_snap_up || { echo "bench: paired: dm-thin setup failed"; return; }
	paired_fill /dev/mapper/bpsnap
	thin_snap_down
	thin_pair_up || { echo "bench: paired: dm-thin setup failed"; return; }
	for dev in /dev/mapper/bpthin /dev/vdc "/dev/$(cat $C/paired/name)" "/dev/$(cat $C/psnap/name)"; do
		paired_fill "$dev"
	done
	thin_pair_down
	order=$PAIRED_TARGETS
	if [ -n "$PAIRED_ALT" ]; then
		order="$order pvdisk-alt"
		ALT_BASE=$(for kv in $PAIRED_ALT; do
			echo "${kv%%=*}=$(cat "$C/paired/${kv%%=*}")"; done)
	fi
	while [ $rep -lt "$PAIRED_REPS" ]; do
		rep=$((rep + 1))
		for job in $PAIRED_JOBS; do
			for t in $order; do
				case $t/$job in
				passthru/first-*|passthru/fsync-*|passthru/snap-*) continue ;;
				dm-linear/first-*|dm-linear/fsync-*|dm-linear/snap-*) continue ;;
				esac
				paired_run "$t" "$job" "$rep" "$fresh"
			done
			case $job in
			first-seq-*) fresh=$((fresh + FRESH_SEQ_MB)) ;;
			first-rand-*) fresh=$((fresh + FRESH_RAND_MB)) ;;
			fsync-*) fresh=$((fresh + FRESH_MB)) ;;
			esac
		done
		# Rotate: each target runs first, second, ... in turn.
		order="${order#* } ${order%% *}"
	done
	thin_pair_up && case $(dmsetup status bppool) in
	*out_of_data_space*) echo "bench: paired: dm-thin pool out of data space" ;;
	esac
	thin_pair_down
	awk '{ print "PAIREDSTAT", $1, $2 }' $C/paired/stats
	vdi_off paired; rmdir $C/paired; vdi_off psnap; rmdir $C/psnap; rmdir $C/pt 2>/dev/null
	pv_check
	rmmod pvdisk
}
sectors=$(( $(blockdev --getsize64 /dev/vdb) / 512 ))
round=0
while [ $round -lt "$ROUNDS" ]; do
round=$((round + 1))
for t in $TARGETS; do
	echo "bench: round $round: $t"
	case $t in
	raw)
		run_jobs raw /dev/vdb $JOBS1 $JOBS2 ;;
	pvdisk)
		modprobe pvdisk || { echo "BENCH $round pvdisk - skip skip"; continue; }
		pvdisk format /dev/vdb --extent-size 64M --force >/dev/null &&
			pvdisk create /dev/vdb bench --size $((3 * SIZE_MB))M >/dev/null &&
			vdi_on bench bench || { echo "bench: pvdisk setup failed"; dmesg | tail -5; continue; }
		dev=/dev/$(cat $C/bench/name)
		m0=$(stat_of bench meta_writes)
		run_jobs pvdisk "$dev" seq-write
		sync
		m1=$(stat_of bench meta_writes)
		echo "METAW $round $SIZE_MB $((m1 - m0))"
		run_jobs pvdisk "$dev" seq-read seq-overwrite rand-write rand-read first-rand-write
		vdi_off bench
		pvdisk snapshot /dev/vdb bench --label before >/dev/null
		echo 1 > $C/bench/power
		run_jobs pvdisk "/dev/$(cat $C/bench/name)" $JOBS2
		vdi_off bench; rmdir $C/bench
		pvdisk check /dev/vdb >/dev/null || echo "bench: pvdisk check failed"
		rmmod pvdisk ;;
	passthru)
		modprobe pvdisk || { echo "BENCH $round passthru - skip skip"; continue; }
		d=$C/bench
		mkdir $d && echo /dev/vdb > $d/backing && echo 1 > $d/power &&
			run_jobs passthru /dev/$(cat $d/name) $JOBS1 $JOBS2
		echo 0 > $d/power; rmdir $d; rmmod pvdisk ;;
	dm-thin)
		# Pool metadata on vda, data on vdb, 64 KiB blocks, one thin volume
		# the size of vdb; its snapshot as dm-thin takes one: suspend the
		# origin, create_snap, resume.
		modprobe dm_thin_pool
		dd if=/dev/zero of=/dev/vda bs=4k count=1 2>/dev/null
		dmsetup create bpool --table "0 $sectors thin-pool /dev/vda /dev/vdb 128 0" &&
			dmsetup mknodes &&
			dmsetup message bpool 0 "create_thin 0" &&
			dmsetup create bthin --table "0 $sectors thin /dev/mapper/bpool 0" &&
			dmsetup mknodes &&
			run_jobs dm-thin /dev/mapper/bthin $JOBS1 &&
			dmsetup suspend bthin && dmsetup message bpool 0 "create_snap 1 0" &&
			dmsetup resume bthin &&
			run_jobs dm-thin /dev/mapper/bthin $JOBS2
		dmsetup remove bthin; dmsetup remove bpool; dmsetup mknodes ;;
	dm-snap)
		# Classic dm-snapshot: vdb is the origin with one persistent
		# snapshot whose exceptions go to vdc (64 KiB chunks).
		modprobe dm_snapshot
		dd if=/dev/zero of=/dev/vdc bs=4k count=1 2>/dev/null
		dmsetup create bsnap --table "0 $sectors snapshot /dev/vdb /dev/vdc P 128" &&
			dmsetup create borigin --table "0 $sectors snapshot-origin /dev/vdb" &&
			dmsetup mknodes &&
			run_jobs dm-snap /dev/mapper/borigin $JOBS1
		dmsetup remove borigin; dmsetup remove bsnap; dmsetup mknodes ;;
	cache)
		[ $round = 1 ] || continue
		modprobe pvdisk || continue
		pvdisk format /dev/vdb --extent-size 64M --force >/dev/null &&
			pvdisk create /dev/vdb c --size 1G >/dev/null && vdi_on c c 64 || continue
		$FIO --name=fill --filename=/dev/$(cat $C/c/name) --ioengine=libaio \
			--iodepth=32 --rw=write --bs=1M --size=1G >/dev/null 2>&1
		vdi_off c
		for mb in 1 4 64; do
			sync; echo 3 > /proc/sys/vm/drop_caches
			k0=$(awk '/^(Slab|PageTables):/ { s += $2 } END { print s }' /proc/meminfo)
			echo $mb > $C/c/cache_mb && echo 1 > $C/c/power
			line=$($FIO --name=cache --filename=/dev/$(cat $C/c/name) --ioengine=libaio \
				--iodepth=32 --rw=randread --bs=4k --size=1G --time_based \
				--runtime="$RUNTIME" 2>/dev/null | tail -n 1)
			k1=$(awk '/^(Slab|PageTables):/ { s += $2 } END { print s }' /proc/meminfo)
			iops=$(echo "$line" | awk -F';' '{ print $8 }')
			echo "CACHE $mb $iops $(stat_of c cache_hits) $(stat_of c cache_misses) $(stat_of c cached_nodes) $((k1 - k0))"
			vdi_off c
		done
		rmdir $C/c; rmmod pvdisk ;;
	snap)
		# pvdisk: the ioctl through pvdisk_checkpoint; a fresh store for
		# the no-snapshot job (then the idle snapshots) and for each rate.
		modprobe pvdisk || { echo "bench: snap: no pvdisk module"; continue; }
		PVCK=/tests/pvdisk_checkpoint
		if pv_up; then
			snap_load pvdisk 0 "$PV"
			snap_take pvdisk idle 10 $PVCK -q -r 10 -n "$SNAP_IDLE" "$PV"
			pv_down
		fi
		for rate in $SNAP_RATES; do
			pv_up || continue
			snap_load pvdisk "$rate" "$PV" $PVCK "$PV"
			pv_down
		done
		# The same with PVDISK_SNAPSHOT_LAZY (durable at the next
		# commit instead of when the call returns).
		if pv_up; then
			snap_take pvdisk-lazy idle 10 $PVCK -q -L -r 10 -n "$SNAP_IDLE" "$PV"
			pv_down
		fi
		for rate in $SNAP_RATES; do
			pv_up || continue
			snap_load pvdisk-lazy "$rate" "$PV" $PVCK -L "$PV"
			pv_down
		done
		# Metadata: the same sequential first write of the region over
		# RUNTIME seconds into two fresh VDIs, the second with a
		# snapshot every 10 ms; meta_writes before and after each.
		pvdisk format /dev/vdb --extent-size 64M --force >/dev/null &&
			pvdisk create /dev/vdb m0 --size "${SNAP_MB}M" >/dev/null &&
			pvdisk create /dev/vdb m1 --size "${SNAP_MB}M" >/dev/null || continue
		mrate=$(( (SNAP_MB + RUNTIME - 1) / RUNTIME ))
		for v in m0 m1; do
			vdi_on $v $v || continue 2
			d=/dev/$(cat $C/$v/name)
			w0=$(stat_of $v meta_writes)
			if [ $v = m1 ]; then
				snap_take pvdisk seq-write 100 $PVCK -q -r 100 -n $((100 * RUNTIME)) "$d" >/tmp/snap.lat &
				ck=$!
			fi
			$FIO --name=meta --filename="$d" --ioengine=libaio --iodepth=32 --rw=write \
				--bs=1M --size="${SNAP_MB}M" --rate="${mrate}m" --end_fsync=1 >/dev/null 2>&1 ||
				echo "bench: metadata job failed"
			[ $v = m1 ] && wait $ck
			w1=$(stat_of $v meta_writes)
			eval "meta_$v=$((w1 - w0))"
			vdi_off $v
		done
		cat /tmp/snap.lat
		echo "SNAPMETA $round $(awk '$1 == "SNAPLAT" { print $6 }' /tmp/snap.lat) $meta_m1 $meta_m0 $SNAP_MB"
		# Clones: snapshot m0 offline, then one `pvdisk create --count`
		# process makes them all (c-1 .. c-N, all or none), timed;
		# power SNAP_ON of them on.
		pvdisk snapshot /dev/vdb m0 --label gold >/dev/null || continue
		t0=$(now_us)
		pvdisk create /dev/vdb c --from gold --count "$SNAP_CLONES" >/tmp/clones.out 2>&1
		t1=$(now_us)
		n=$(grep -c "^created VDI 'c-[0-9]*'" /tmp/clones.out)
		echo "SNAPCLONE $round $n $((t1 - t0))"
		[ "$n" = "$SNAP_CLONES" ] || { echo "bench: the clones failed:"; tail -n 3 /tmp/clones.out; }
		i=0 t0=$(now_us)
		while [ $i -lt "$SNAP_ON" ] && [ $i -lt $n ] && vdi_on c$((i + 1)) c-$((i + 1)); do
			i=$((i + 1))
		done
		t1=$(now_us)
		echo "SNAPPOWER $round $i $((t1 - t0))"
		while [ $i -gt 0 ]; do vdi_off c$i; rmdir $C/c$i; i=$((i - 1)); done
		for v in m0 m1; do rmdir $C/$v; done
		pv_check
		rmmod pvdisk
		# dm-thin: suspend + create_snap + resume through
		# dm_thin_checkpoint; a fresh pool likewise.
		modprobe dm_thin_pool
		DTCK=/tests/dm_thin_checkpoint
		if thin_up; then
			snap_load dm-thin 0 /dev/mapper/bthin
			snap_take dm-thin idle 10 $DTCK -q -r 10 -n "$SNAP_IDLE" bpool bthin 0 1
			thin_down
		fi
		for rate in $SNAP_THIN_RATES; do
			thin_up || continue
			snap_load dm-thin "$rate" /dev/mapper/bthin $DTCK bpool bthin 0 1
			thin_down
		done ;;
	paired)
		[ $round = 1 ] || continue
		paired ;;
	*) echo "bench: unknown target $t" ;;
	esac
done
done
GUEST
)

out=$(mktemp)
trap 'rm -f "$buildlog" "$out"' EXIT
# vdb holds the paired VDIs, vdc the thin pool's data and then the raw
# disk's fresh regions: each twice the in-place region and the fresh
# regions of a repetition, plus the snapshot job's region once and copied
# once a repetition, at least 8 GiB (sparse files: only what is written
# counts).
paired_fresh_rep_mb=$((paired_fresh_rand_mb + paired_fresh_mb + paired_fresh_seq_mb))
disk_mb=$(( (size_mb + paired_reps * paired_fresh_rep_mb) * 2 +
	(paired_reps + 1) * size_mb + 256 ))
# ... and pvdisk-alt's fresh regions on vdb
[ -z "$paired_alt" ] ||
	disk_mb=$((disk_mb + paired_reps * paired_fresh_rep_mb))
[ "$disk_mb" -ge 8192 ] || disk_mb=8192
"$here/vm.sh" --quiet --timeout 10800 --smp "$smp" --bus "$bus" --disk-size "${disk_mb}M" -- "$guest" | tee "$out"
rc=${PIPESTATUS[0]}

if grep -q '^BENCH ' "$out"; then
echo
echo "fio, direct, libaio, iodepth 32, ${runtime}s per timed job, ${size_mb} MiB regions; TCG guest," \
	"kernel: ${PVDISK_KERNEL_VARIANT:-test}"
echo "median over $rounds rounds; ratio to raw taken within each round (lowest-highest)"
awk '
	# Median of a space-separated list; also sets lo and hi to its
	# smallest and largest value.
	function median(list,    v, n, i, j, t) {
		n = split(list, v, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
			}
		lo = v[1]; hi = v[n]
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	$1 == "BENCH" && !($3 in seen) { seen[$3] = 1; order[++n] = $3 }
	$1 == "BENCH" && $5 !~ /^[0-9.]+$/ { failed[$3, $4]++ }
	$1 == "BENCH" && $5 ~ /^[0-9.]+$/ {
		r = $2; tg = $3; k = $4
		mb[tg, k] = mb[tg, k] " " $5; io[tg, k] = io[tg, k] " " $6
		iops[r, tg, k] = $6
		if (!(r in rs)) { rs[r] = 1; rounds[++nr] = r }
	}
	END {
		nj = split("seq-write seq-read seq-overwrite rand-write rand-read first-rand-write snap-rand-write fsync-write", jobs, " ")
		printf "%-10s %-16s %10s %10s %8s %12s\n", "target", "job", "MB/s", "IOPS", "vs raw", "range"
		for (i = 1; i <= n; i++) {
			tg = order[i]
			for (j = 1; j <= nj; j++) {
				k = jobs[j]
				if (!((tg, k) in mb)) {
					if ((tg, k) in failed)
						printf "%-10s %-16s %10s %10s %8s\n", tg, k, "fail", "fail", "-"
					continue
				}
				ratios = ""
				for (x = 1; x <= nr; x++) {
					r = rounds[x]
					if (tg != "raw" && ((r, tg, k) in iops) && iops[r, "raw", k] > 0)
						ratios = ratios " " iops[r, tg, k] / iops[r, "raw", k]
				}
				m = median(mb[tg, k]); o = median(io[tg, k])
				ratio = "-"; range = ""
				if (ratios != "") {
					# (median() sets lo and hi: call it on ratios last.)
					ratio = sprintf("%.2f", median(ratios))
					range = sprintf("%.2f-%.2f", lo, hi)
				}
				printf "%-10s %-16s %10.1f %10.0f %8s %12s\n", tg, k, m, o, ratio, range
			}
		}
	}' "$out"
echo
echo "pvdisk vs dm-thin (IOPS ratio within each round; median, lowest-highest):"
awk '$1 == "BENCH" && $5 ~ /^[0-9.]+$/ { io[$2, $3, $4] = $6; r[$2] = 1; j[$4] = 1 }
	END {
		nj = split("seq-write seq-read seq-overwrite rand-write rand-read first-rand-write snap-rand-write fsync-write", jobs, " ")
		for (x = 1; x <= nj; x++) {
			k = jobs[x]; n = 0
			for (rr in r)
				if (((rr, "pvdisk", k) in io) && io[rr, "dm-thin", k] > 0)
					v[++n] = io[rr, "pvdisk", k] / io[rr, "dm-thin", k]
			if (n == 0) continue
			for (a = 2; a <= n; a++)
				for (b = a; b > 1 && v[b - 1] > v[b]; b--) { t = v[b]; v[b] = v[b - 1]; v[b - 1] = t }
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf "  %-16s %6.2fx  (%.2f-%.2f)\n", k, m, v[1], v[n]
		}
	}' "$out"
fi
if grep -q '^PAIRED ' "$out"; then
echo
echo "paired: targets take turns in ${paired_slice}s slices, $paired_reps repetitions; each" \
	"ratio to the raw (dm-thin) slice of the same repetition: median (lowest-highest);" \
	"CPU/IO: the guest's CPU time per I/O in us (all CPUs, fio's included), and its" \
	"difference to the raw slice's"
[ -z "$paired_alt" ] || echo "pvdisk-alt: pvdisk with $paired_alt; its vs dm-thin column is to pvdisk, and the line below it its CPU/IO against pvdisk's"
awk '
	# "median (lowest-highest)" of v[1..m], sorted in place, with p
	# decimals
	function mr(m, p,    a, b, x, md, f) {
		for (a = 2; a <= m; a++)
			for (b = a; b > 1 && v[b - 1] > v[b]; b--) { x = v[b]; v[b] = v[b - 1]; v[b - 1] = x }
		md = m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
		f = "%." p "f"
		return sprintf("%5." p "f %-13s", md, sprintf("(" f "-" f ")", v[1], v[m]))
	}
	# target t against target u on job j over the repetitions: the
	# ratio of their IOPS, or (cpu) the difference of their CPU per I/O
	function versus(t, u, j, cpu,    r, m) {
		m = 0
		for (r in rep)
			if (((r, t, j) in io) && io[r, u, j] > 0)
				v[++m] = cpu ? us[r, t, j] - us[r, u, j] : io[r, t, j] / io[r, u, j]
		return m ? mr(m, cpu ? 1 : 2) : sprintf("%5s %-13s", "-", "")
	}
	$1 == "PAIRED" && $5 ~ /^[0-9.]+$/ { io[$2, $3, $4] = $5; us[$2, $3, $4] = $6; rep[$2] = 1
		if (!(($3, $4) in seen)) { seen[$3, $4] = 1; keys[++n] = $3 SUBSEP $4 } }
	$1 == "PAIRED" && $5 !~ /^[0-9.]+$/ { failed++ }
	END {
		printf "  %-10s %-16s %7s   %-19s %-19s %6s   %-19s\n", "target", "job", "IOPS", "vs raw",
			"vs dm-thin", "CPU/IO", "CPU/IO - raw"
		for (i = 1; i <= n; i++) {
			split(keys[i], kv, SUBSEP); t = kv[1]; j = kv[2]; c = 0
			for (r in rep) if ((r, t, j) in io) v[++c] = io[r, t, j]
			split(mr(c, 0), med, " "); c = 0
			for (r in rep) if ((r, t, j) in io) v[++c] = us[r, t, j]
			split(mr(c, 1), cpu, " ")
			printf "  %-10s %-16s %7.0f   %s %s %6.1f   %s\n", t, j, med[1],
				t == "raw" ? sprintf("%5s %-13s", "-", "") : versus(t, "raw", j, 0),
				t == "pvdisk" ? versus(t, "dm-thin", j, 0) : t == "pvdisk-alt" ? versus(t, "pvdisk", j, 0) : sprintf("%19s", ""),
				cpu[1], t == "raw" ? "" : versus(t, "raw", j, 1)
			if (t == "pvdisk-alt")
				printf "  %-10s %-16s %7s   %19s %19s %6s   %s\n", "", "", "", "", "", "- pvdisk", versus(t, "pvdisk", j, 1)
		}
		if (failed) printf "  (%d slices failed)\n", failed
	}' "$out"
awk '$1 == "PAIREDSTAT" && $2 ~ /^(commits|one_bio_commits|cow_blocks|cow_at_submit|cow_held|slot_waits|worker_reads)$/ {
		line = line sprintf("%s%s %s", line ? ", " : "", $2, $3) }
	END { if (line) print "  pvdisk, the whole run: " line }' "$out"
fi
echo
awk '$1 == "METAW" { printf "pvdisk metadata blocks written by %s MiB of first writes (round %s): %s (%.0f per GiB)\n", $3, $2, $4, $4 * 1024 / $3 }' "$out"
awk '$1 == "CACHE" { if (!h) { print "node cache, random 4k reads over a written 1 GiB VDI:"; printf "  %8s %8s %10s %10s %8s %10s %10s\n", "cache_mb", "IOPS", "hits", "misses", "hit %", "nodes", "kernel KiB"; h = 1 }
	printf "  %8s %8s %10s %10s %8.1f %10s %10s\n", $2, $3, $4, $5, ($4 + $5) ? 100 * $4 / ($4 + $5) : 0, $6, $7 }' "$out"
# The snap target's figures (SNAP* lines): median over the rounds, in
# brackets the lowest and highest; ratios are taken within a round.
if grep -q '^SNAP' "$out"; then
echo
echo "snapshots: ${snap_mb} MiB region written once, then 4k random writes (direct, libaio," \
	"iodepth 32, ${runtime}s per job); pvdisk: PVDISK_IOC_SNAPSHOT (pvdisk_checkpoint);" \
	"dm-thin: suspend + create_snap + resume (dm_thin_checkpoint)"
echo "median over $rounds rounds (lowest-highest)"
awk -v clones="$snap_clones" -v mb="$snap_mb" -v rt="$runtime" '
	function median(list,    v, n, i, j, t) {
		n = split(list, v, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
			}
		lo = v[1]; hi = v[n]
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	# "median (lowest-highest)" of a list, with printf format f
	function mr(list, f,    m) {
		if (list == "") return "-"
		m = median(list)
		return sprintf(f " (" f "-" f ")", m, lo, hi)
	}
	$1 == "SNAPLAT" {
		k = $3 SUBSEP $4 SUBSEP $5
		if (!(k in lseen)) { lseen[k] = 1; lorder[++nl] = k }
		if (NF < 11) { lfail[k]++; next }
		p50[k] = p50[k] " " $7 / 1000; p99[k] = p99[k] " " $8 / 1000
		mx[k] = mx[k] " " $9 / 1000; late[k] = late[k] " " $10
		done[k] = done[k] " " ($11 > 0 ? ($6 - 1) * 1e6 / $11 : 0)
		rp99[$2, k] = $8; rs[$2] = 1
	}
	$1 == "SNAPIOPS" {
		k = $3 SUBSEP $4
		if (!(k in iseen)) { iseen[k] = 1; iorder[++ni] = k }
		if ($5 !~ /^[0-9]+$/) { ifail[k]++; next }
		io[k] = io[k] " " $5; riops[$2, k] = $5; rs[$2] = 1
	}
	$1 == "SNAPMETA" && $3 > 0 {
		all = all " " $4 * 4 / $3; extra = extra " " ($4 - $5) * 4 / $3
		nsnap = nsnap " " $3
	}
	$1 == "SNAPCLONE" { cn = cn " " $3; ct = ct " " $4 / 1e6; cper = cper " " ($3 ? $4 / 1000 / $3 : 0) }
	$1 == "SNAPPOWER" { pn = pn " " $3; pt = pt " " $4 / 1000 }
	END {
		print "snapshot latency, ms:"
		printf "  %-11s %-14s %6s %8s %24s %24s %24s %6s\n", "system", "during", "rate/s",
			"done/s", "p50", "p99", "max", "late"
		for (i = 1; i <= nl; i++) {
			k = lorder[i]; split(k, f, SUBSEP)
			during = f[2] == "load" ? "4k rand-write" : f[2]
			if (k in lfail)
				printf "  %-11s %-14s %6s %8s %24s\n", f[1], during, f[3], "-", "fail (" lfail[k] "x)"
			if (!(k in p50)) continue
			printf "  %-11s %-14s %6s %8.1f %24s %24s %24s %6s\n", f[1], during, f[3],
				median(done[k]), mr(p50[k], "%.2f"), mr(p99[k], "%.2f"),
				mr(mx[k], "%.2f"), median(late[k])
		}
		first = 1
		for (i = 1; i <= nl; i++) {
			k = lorder[i]; split(k, f, SUBSEP)
			if (f[1] !~ /^pvdisk/) continue
			d = "dm-thin" SUBSEP f[2] SUBSEP f[3]; v = ""
			for (r in rs)
				if (((r, k) in rp99) && ((r, d) in rp99) && rp99[r, k] > 0)
					v = v " " rp99[r, d] / rp99[r, k]
			if (v == "") continue
			if (first) { print "  dm-thin p99 / pvdisk p99 (within a round):"; first = 0 }
			printf "    %-12s %-14s %3s/s  %s\n", f[1], f[2] == "load" ? "4k rand-write" : f[2], f[3], mr(v, "%.1fx")
		}
		print "random 4k write IOPS while snapshotting, ratio to no snapshots within a round:"
		printf "  %-11s %8s %10s %8s %12s\n", "system", "snaps/s", "IOPS", "vs none", "range"
		for (i = 1; i <= ni; i++) {
			k = iorder[i]; split(k, f, SUBSEP)
			if (k in ifail)
				printf "  %-11s %8s %10s\n", f[1], f[2] == 0 ? "none" : f[2], "fail (" ifail[k] "x)"
			if (!(k in io)) continue
			v = ""
			# pvdisk-lazy: the ratio to the pvdisk run without snapshots
			b = f[1] == "pvdisk-lazy" ? "pvdisk" : f[1]
			for (r in rs)
				if (f[2] != 0 && ((r, k) in riops) && riops[r, b SUBSEP 0] > 0)
					v = v " " riops[r, k] / riops[r, b SUBSEP 0]
			ratio = "-"; range = ""
			if (v != "") {
				ratio = sprintf("%.2f", median(v)); range = sprintf("%.2f-%.2f", lo, hi)
			}
			printf "  %-11s %8s %10.0f %8s %12s\n", f[1], f[2] == 0 ? "none" : f[2],
				median(io[k]), ratio, range
		}
		if (nsnap != "") {
			printf "pvdisk metadata per snapshot, a snapshot every 10 ms during a %d MiB sequential first write over %d s:\n", mb, rt
			printf "  snapshots %s; all metadata written %s KiB per snapshot; beyond the same write without snapshots %s KiB\n",
				mr(nsnap, "%d"), mr(all, "%.2f"), mr(extra, "%.2f")
		}
		if (cn != "") {
			printf "%d clones of one snapshot, one \"pvdisk create --from --count %d\" process (start-up included):\n", clones, clones
			printf "  done %s; %s s in all, %s ms per clone\n", mr(cn, "%d"), mr(ct, "%.3f"), mr(cper, "%.3f")
		}
		if (pn != "")
			printf "power-on of %s clones (configfs mkdir, backing, vdi, cache_mb, power=1): %s ms\n",
				mr(pn, "%d"), mr(pt, "%.1f")
	}' "$out"
fi
exit "$rc"
