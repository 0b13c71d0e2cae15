#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where a VDI disk's I/O spends its time: perf in the guest, on the bench
# kernel, sampling every CPU while fio runs one job on a fully written VDI
# (first-rand-write: a fresh one), then on the raw disk, so that the two
# profiles compare.
#
#   scripts/profile.sh [JOB]    JOB: rand-read (default), rand-write,
#                               seq-read, seq-overwrite, first-rand-write,
#                               fsync-write (first writes, queue depth 1,
#                               an fsync after each)
#
# PROFILE_SMP: the VM's CPUs (default 2; with 1 the guest's CPU is the
# limit and the samples add up to the cost per I/O).
#
# Needs the host's perf (Debian: linux-perf), copied into the guest. The
# guest has no hardware counters under TCG: perf samples the cpu-clock.
# Prints, per device, the hottest symbols (self time, all CPUs) and the
# same restricted to pvdisk's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
job=${1:-rand-read}
case $job in
rand-read) args="--rw=randread --bs=4k" ;;
rand-write) args="--rw=randwrite --bs=4k" ;;
seq-read) args="--rw=read --bs=1M" ;;
seq-overwrite) args="--rw=write --bs=1M" ;;
first-rand-write) args="--rw=randwrite --bs=4k" ;;
fsync-write) args="--rw=randwrite --bs=4k --ioengine=psync --iodepth=1 --fsync=1" ;;
*) echo "profile: unknown job $job" >&2; exit 2 ;;
esac
perf=$(command -v perf || true)
[ -n "$perf" ] || { echo "profile: no perf on the host (Debian: apt-get install linux-perf)" >&2; exit 1; }

export PVDISK_KERNEL_VARIANT=${PVDISK_KERNEL_VARIANT-bench}
"$here/test.sh" --build-only >/dev/null
export PVDISK_VM_EXTRA_BINS="$perf"
guest=$(cat <<GUEST
ARGS="$args"
JOB=$job
PERF=$perf
GUEST
cat <<'GUEST'
set -e
C=/sys/kernel/config/pvdisk
# perf reads kernel addresses and symbols from /proc/kallsyms
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
FIO="fio --direct=1 --ioengine=libaio --iodepth=32 --size=512M"
modprobe pvdisk
pvdisk format /dev/vdb --extent-size 64M --force >/dev/null
pvdisk create /dev/vdb prof --size 512M >/dev/null
mkdir $C/prof && echo /dev/vdb > $C/prof/backing && echo prof > $C/prof/vdi &&
	echo 1 > $C/prof/power
pv=/dev/$(cat $C/prof/name)
# First writes go to a VDI never written.
case $JOB in first-*|fsync-*) fill=/dev/vdc ;; *) fill="$pv /dev/vdc" ;; esac
for dev in $fill; do
	$FIO --name=fill --filename=$dev --rw=write --bs=1M >/dev/null
done
for dev in $pv /dev/vdc; do
	echo "==== $dev"
	$PERF record -q -a -g -o /tmp/perf.data -- \
		$FIO --name=job --filename=$dev $ARGS --runtime=10 --time_based \
		--output-format=terse --terse-version=3 | awk -F';' '{ print "IOPS", $8 + $49 }'
	# The VDI's stats, and the store device's I/O counts (writes merged:
	# the sixth figure, Documentation/admin-guide/iostats.rst)
	[ "$dev" != "$pv" ] || { sed 's/^/STAT /' $C/prof/stats; echo "STAT vdb" $(cat /sys/block/vdb/stat); }
	# The bench kernel has no kallsyms: the host names the addresses.
	$PERF report -i /tmp/perf.data --stdio --no-children --sort sym \
		-g none 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/^/PROFILE /'
	echo "---- pvdisk's symbols"
	$PERF report -i /tmp/perf.data --stdio --no-children --sort sym \
		--dsos '[pvdisk]' -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
done
echo 0 > $C/prof/power
GUEST
)
map=$("$here/kernel.sh" --print)/System.map
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$here/vm.sh" --quiet --timeout 1800 --smp "${PROFILE_SMP:-2}" --disk-size 1G -- "$guest" >"$out"
# Sum the samples per symbol, naming core kernel addresses from System.map
# (sorted; a binary search on the fixed-width hex).
grep -v '^PROFILE ' "$out" | sed '/^---- pvdisk/,/^====/{/^====/!d}'
awk 'NR == FNR { if ($2 ~ /^[tTwW]$/) { a[n] = $1; s[n++] = $3 } next }
	/^==== / { dev = $2; next }
	/^PROFILE / {
		sym = $4
		if (sym ~ /^0xffff/) {
			x = substr(sym, 3); lo = 0; hi = n - 1
			while (lo < hi) { m = int((lo + hi + 1) / 2); if (a[m] <= x) lo = m; else hi = m - 1 }
			sym = s[lo]
		}
		p = $2; sub(/%/, "", p); sum[dev " " sym] += p
	}
	END { for (k in sum) if (sum[k] >= 0.25) printf "%s %6.2f%%\n", k, sum[k] }' \
	<(sort "$map") "$out" | sort -k1,1 -k2,2rn | awk '$1 != d { d = $1; print "==== " d } { print "  " $2, $3 }'
