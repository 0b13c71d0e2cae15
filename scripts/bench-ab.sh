#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A VDI's in-place I/O with this tree's pvdisk.ko against another
# revision's, in one VM run: the two modules take turns (loaded, the VDI
# powered on, fio, powered off, unloaded), and each slice is followed by
# the same job on the raw disk. A change of the request path too small to
# show beyond `make bench`'s spread shows in the ratio of the two modules
# within each round.
#
#   scripts/bench-ab.sh REV [ROUNDS]
#
# BENCH_AB_VDI_MB: the VDI's size in MiB (default 1024, a tree of two
# levels; above 1024 it has three); the jobs run over its first GiB.
#
# REV: a git revision. Its Makefile, Kbuild and drivers/ are built against
# this tree's bench kernel, so what rust/ holds is this tree's for both:
# this compares the driver, not the kernel crate. ROUNDS (default 7): odd
# rounds run REV's module first, even ones this tree's.
#
# Jobs (libaio, queue depth 32, 5 s each) on the first GiB of a VDI,
# written once: 4 KiB random writes and reads and 1 MiB overwrites; the
# raw slice runs on /dev/vdc, written once too. Prints, per job, each
# module's median IOPS and its median ratio to the raw slice after it
# (lowest-highest), then this tree's IOPS over REV's round by round and
# their median. fio and the disks' interrupts are placed as in `make
# bench` (scripts/bench-placement.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
rev=${1:?usage: scripts/bench-ab.sh REV [ROUNDS]}
rounds=${2:-7}
vdi_mb=${BENCH_AB_VDI_MB:-1024}
export PVDISK_KERNEL_VARIANT=${PVDISK_KERNEL_VARIANT-bench}

"$here/test.sh" --build-only >/dev/null
kdir=$("$here/kernel.sh" --print)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$repo" archive "$rev" Makefile Kbuild drivers | tar -x -C "$tmp"
make -s -C "$tmp" KDIR="$kdir" modules >/dev/null
cp "$tmp/drivers/block/pvdisk/pvdisk.ko" "$tmp/rev.ko"
cp "$repo/drivers/block/pvdisk/pvdisk.ko" "$tmp/tree.ko"
export PVDISK_VM_EXTRA_FILES="$tmp/rev.ko=/ab/rev.ko $tmp/tree.ko=/ab/tree.ko"

guest=$(
	echo "ROUNDS=$rounds"
	echo "VDI_MB=$vdi_mb"
	cat "$here/bench-placement.sh"
	cat <<'GUEST'
set -e
C=/sys/kernel/config/pvdisk
pin_placement
# Load the module's dependencies once, then use the two builds by path.
modprobe pvdisk && rmmod pvdisk
on() {
	mkdir $C/v && echo /dev/vdb > $C/v/backing && echo v > $C/v/vdi &&
		echo 1 > $C/v/power
}
off() { echo 0 > $C/v/power && rmdir $C/v; }
fill() {
	fio --name=fill --filename="$1" --ioengine=libaio --iodepth=32 \
		--rw=write --bs=1M --size=1024M --direct=1 >/dev/null 2>&1
}
iops() {
	fio --name=ab --filename="$2" --ioengine=libaio --iodepth=32 $1 $FIO_PIN \
		--size=1024M --direct=1 --time_based --runtime=5 \
		--output-format=terse --terse-version=3 2>/dev/null |
		awk -F';' '{ print $8 + $49 }'
}
insmod /ab/tree.ko
pvdisk format /dev/vdb --extent-size 64M --force >/dev/null
pvdisk create /dev/vdb v --size "${VDI_MB}M" >/dev/null
on && fill "/dev/$(cat $C/v/name)" && off
rmmod pvdisk
fill /dev/vdc
r=1
while [ $r -le "$ROUNDS" ]; do
	order="rev tree"
	[ $((r % 2)) = 1 ] || order="tree rev"
	for m in $order; do
		insmod /ab/$m.ko && on
		d=/dev/$(cat $C/v/name)
		# Every node into the cache before the timed slices.
		dd if="$d" of=/dev/null bs=1M count=1024 iflag=direct 2>/dev/null
		for job in "rand-write --rw=randwrite --bs=4k" \
			"rand-read --rw=randread --bs=4k" \
			"seq-overwrite --rw=write --bs=1M"; do
			set -- $job
			name=$1
			shift
			echo "AB $r $m $name $(iops "$*" "$d") $(iops "$*" /dev/vdc)"
		done
		off && rmmod pvdisk
	done
	r=$((r + 1))
done
GUEST
)
"$here/vm.sh" --quiet --timeout 3600 --disk-size 4G -- "$guest" | tee "$tmp/out" |
	grep -E '^AB ' || true

# median: the middle value of the numbers on stdin (lower middle if even)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
range() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi }'; }
echo "bench-ab: this tree against $rev, $rounds rounds (ratio: to the raw slice after it)"
for job in rand-write rand-read seq-overwrite; do
	for m in rev tree; do
		sel() { awk -v j="$job" -v m="$m" '$1 == "AB" && $4 == j && $3 == m' "$tmp/out"; }
		printf '  %-14s %-4s IOPS %7s  vs raw %s (%s)\n' "$job" "$m" \
			"$(sel | awk '{ print $5 }' | median)" \
			"$(sel | awk '$6 > 0 { printf "%.2f\n", $5 / $6 }' | median)" \
			"$(sel | awk '$6 > 0 { printf "%.2f\n", $5 / $6 }' | range)"
	done
	pairs=$(awk -v j="$job" '$1 == "AB" && $4 == j { v[$2, $3] = $5; n[$2] = 1 }
		END { for (r in n) if (v[r, "rev"] > 0) printf "%.2f\n", v[r, "tree"] / v[r, "rev"] }' "$tmp/out")
	printf '  %-14s tree/rev per round (sorted): %s; median %s\n' "$job" \
		"$(echo "$pairs" | sort -g | tr '\n' ' ')" "$(echo "$pairs" | median)"
done
