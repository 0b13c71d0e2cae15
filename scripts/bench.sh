#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: fio inside the test VM on the same scratch disk (/dev/vdb)
# used raw, as a VDI of a pvdisk store (/dev/pvdisk0), through pvdisk's
# pass-through of the raw device, through a dm-thin volume (metadata on
# /dev/vda) and as the origin of a classic dm-snapshot (exception store on
# /dev/vdc). Prints MB/s and IOPS per job and the ratio to raw, then the
# node cache experiment and pvdisk's metadata cost. Never part of the test
# run: numbers under TCG measure the guest CPU cost of each layer more
# than any disk.
#
#   scripts/bench.sh [TARGET...]   TARGET: raw pvdisk passthru dm-thin
#                                  dm-snap cache (default: all)
# Environment: BENCH_RUNTIME (seconds per timed job, default 10),
#              BENCH_SIZE_MB (region per job in MiB, default 512),
#              BENCH_ROUNDS (rounds, default 3).
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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

targets=${*:-raw pvdisk passthru dm-thin dm-snap cache}
runtime=${BENCH_RUNTIME:-10}
size_mb=${BENCH_SIZE_MB:-512}
rounds=${BENCH_ROUNDS:-3}

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
GUEST
cat <<'GUEST'
FIO="fio --direct=1 --group_reporting --output-format=terse --terse-version=3"
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
	*) echo "bench: unknown target $t" ;;
	esac
done
done
GUEST
)

out=$(mktemp)
trap 'rm -f "$buildlog" "$out"' EXIT
"$here/vm.sh" --quiet --timeout 7200 --disk-size 4G -- "$guest" | tee "$out"
rc=${PIPESTATUS[0]}

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
echo
awk '$1 == "METAW" { printf "pvdisk metadata blocks written by %s MiB of first writes (round %s): %s (%.0f per GiB)\n", $3, $2, $4, $4 * 1024 / $3 }' "$out"
awk '$1 == "CACHE" { if (!h) { print "node cache, random 4k reads over a written 1 GiB VDI:"; printf "  %8s %8s %10s %10s %8s %10s %10s\n", "cache_mb", "IOPS", "hits", "misses", "hit %", "nodes", "kernel KiB"; h = 1 }
	printf "  %8s %8s %10s %10s %8.1f %10s %10s\n", $2, $3, $4, $5, ($4 + $5) ? 100 * $4 / ($4 + $5) : 0, $6, $7 }' "$out"
exit "$rc"
