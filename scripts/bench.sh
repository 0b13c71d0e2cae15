#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: fio inside the test VM on the same scratch disk (/dev/vdb)
# used raw, through pvdisk (pass-through /dev/pvdisk0), through a dm-thin
# volume (metadata on /dev/vda) and as the origin of a classic dm-snapshot
# (exception store on /dev/vdc). Prints MB/s and IOPS per job and the
# ratio to raw. Never part of the test run: numbers under TCG measure the
# guest CPU cost of each layer more than any disk.
#
#   scripts/bench.sh [TARGET...]   TARGET: raw pvdisk dm-thin dm-snap
#                                  (default: all)
# Environment: BENCH_RUNTIME (seconds per job, default 10),
#              BENCH_SIZE (region per job, default 512M),
#              BENCH_ROUNDS (rounds, default 3).
#
# TCG timing drifts by tens of percent over minutes, so the targets take
# turns: each round runs every target once, each ratio is taken within a
# round (target and raw minutes apart, not tens of minutes), and the table
# gives the median over rounds with the lowest and highest ratio.
#
# Jobs, in this order on each target (direct, libaio, queue depth 32):
#   seq-write 1M, seq-read 1M, rand-write 4k, rand-read 4k.
# seq-write comes first and covers the region, so the reads read written
# blocks and, on dm-thin and dm-snapshot, it is the first-write
# (allocation / copy-out) cost; the random writes that follow are not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

targets=${*:-raw pvdisk dm-thin dm-snap}
runtime=${BENCH_RUNTIME:-10}
size=${BENCH_SIZE:-512M}
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
SIZE=$size
ROUNDS=$rounds
TARGETS="$targets"
GUEST
cat <<'GUEST'
FIO="fio --ioengine=libaio --direct=1 --iodepth=32 --group_reporting --output-format=terse --terse-version=3"
# run_jobs LABEL DEVICE (and $round)
run_jobs() {
	local label=$1 dev=$2 j name rw bs line
	for j in seq-write:write:1M seq-read:read:1M rand-write:randwrite:4k rand-read:randread:4k; do
		name=${j%%:*}; rw=${j#*:}; bs=${rw#*:}; rw=${rw%%:*}
		line=$($FIO --name="$name" --filename="$dev" --rw="$rw" --bs="$bs" \
			--size="$SIZE" --time_based --runtime="$RUNTIME" 2>/dev/null | tail -n 1)
		# terse v3: field 7/8 read KiB/s and IOPS, 48/49 write.
		echo "$line" | awk -F';' -v r="$round" -v t="$label" -v n="$name" '
			NF > 50 { kb = $7 + $48; io = $8 + $49;
				printf "BENCH %s %s %s %.1f %.0f\n", r, t, n, kb * 1024 / 1e6, io; ok = 1 }
			END { if (!ok) printf "BENCH %s %s %s fail fail\n", r, t, n }'
	done
}
sectors=$(( $(blockdev --getsize64 /dev/vdb) / 512 ))
meta=$(( $(blockdev --getsize64 /dev/vda) / 512 ))
round=0
while [ $round -lt "$ROUNDS" ]; do
round=$((round + 1))
for t in $TARGETS; do
	echo "bench: round $round: $t"
	case $t in
	raw)
		run_jobs raw /dev/vdb ;;
	pvdisk)
		if ! modprobe pvdisk; then echo "BENCH $round pvdisk - skip skip"; continue; fi
		d=/sys/kernel/config/pvdisk/bench
		mkdir $d && echo /dev/vdb > $d/backing && echo 1 > $d/power &&
			run_jobs pvdisk /dev/$(cat $d/name)
		echo 0 > $d/power; rmdir $d; rmmod pvdisk ;;
	dm-thin)
		# Hook for thin-provisioned comparisons: pool metadata on vda,
		# data on vdb, 64 KiB blocks, one thin volume the size of vdb.
		modprobe dm_thin_pool
		dd if=/dev/zero of=/dev/vda bs=4k count=1 2>/dev/null
		dmsetup create bpool --table "0 $sectors thin-pool /dev/vda /dev/vdb 128 0" &&
			dmsetup mknodes &&
			dmsetup message bpool 0 "create_thin 0" &&
			dmsetup create bthin --table "0 $sectors thin /dev/mapper/bpool 0" &&
			dmsetup mknodes &&
			run_jobs dm-thin /dev/mapper/bthin
		dmsetup remove bthin; dmsetup remove bpool; dmsetup mknodes ;;
	dm-snap)
		# Classic dm-snapshot: vdb is the origin with one persistent
		# snapshot whose exceptions go to vdc (64 KiB chunks).
		modprobe dm_snapshot
		dd if=/dev/zero of=/dev/vdc bs=4k count=1 2>/dev/null
		dmsetup create bsnap --table "0 $sectors snapshot /dev/vdb /dev/vdc P 128" &&
			dmsetup create borigin --table "0 $sectors snapshot-origin /dev/vdb" &&
			dmsetup mknodes &&
			run_jobs dm-snap /dev/mapper/borigin
		dmsetup remove borigin; dmsetup remove bsnap; dmsetup mknodes ;;
	*) echo "bench: unknown target $t" ;;
	esac
done
done
GUEST
)

out=$(mktemp)
trap 'rm -f "$buildlog" "$out"' EXIT
"$here/vm.sh" --quiet --timeout 3600 -- "$guest" | tee "$out"
rc=${PIPESTATUS[0]}

echo
echo "fio, direct, libaio, iodepth 32, ${runtime}s per job, ${size} region; TCG guest," \
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
		split("seq-write seq-read rand-write rand-read", jobs, " ")
		printf "%-10s %-11s %10s %10s %8s %12s\n", "target", "job", "MB/s", "IOPS", "vs raw", "range"
		for (i = 1; i <= n; i++) {
			tg = order[i]
			for (j = 1; j <= 4; j++) {
				k = jobs[j]
				if (!((tg, k) in mb)) {
					if ((tg, k) in failed)
						printf "%-10s %-11s %10s %10s %8s\n", tg, k, "fail", "fail", "-"
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
				printf "%-10s %-11s %10.1f %10.0f %8s %12s\n", tg, k, m, o, ratio, range
			}
		}
	}' "$out"
exit "$rc"
