#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Data integrity of the pass-through: what is written through /dev/pvdisk0
# is what the backing device holds at the same offsets, and the reverse.
# fio with crc32c verify at several block sizes and queue depths (libaio,
# O_DIRECT), fio verify_only across the two devices, dd/cmp both ways.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap pvdisk_cleanup EXIT

FIO="fio --output-format=terse --terse-version=3 --ioengine=libaio --direct=1"

pvdisk_load || { ktap_fail "load module"; ktap_finished; }
dev=$(pvdisk_new data "$PVDISK_DISK") || { ktap_fail "create disk over $PVDISK_DISK"; ktap_finished; }
ktap_ok "create $dev over $PVDISK_DISK"

# Random writes verified (crc32c) at three block sizes and queue depths 1
# and 32, random reads and writes, sequential writes of mixed sizes: one
# fio run (tests/ktap, fio_cases), each job a case, one after the other.
# (Random writes of mixed sizes overlap one another and make fio's verify
# fail on any device, raw included: mixed sizes go sequentially.)
verify_opts="--verify=crc32c --do_verify=1 --verify_fatal=1 --stonewall"
names=
jobs=
n=0
for qd in 1 32; do
	for bs in 4k 64k 1M; do
		case $bs.$qd in 4k.1) size=2M ;; 4k.*) size=4M ;; 64k.*) size=16M ;; 1M.*) size=32M ;; esac
		n=$((n + 1))
		names="$names|fio randwrite verify bs=$bs iodepth=$qd size=$size"
		jobs="$jobs --name=j$n --bs=$bs --iodepth=$qd --size=$size --rw=randwrite --offset=128M $verify_opts"
	done
done
names="$names|fio randrw verify bs=16k iodepth=16|fio sequential write verify bs=4k-256k iodepth=16"
jobs="$jobs --name=j7 --bs=16k --iodepth=16 --size=16M --rw=randrw --offset=256M $verify_opts"
jobs="$jobs --name=j8 --bs=4k-256k --iodepth=16 --size=16M --rw=write --offset=320M $verify_opts"
oldifs=$IFS
IFS='|'
# shellcheck disable=SC2086
set -- ${names#|}
IFS=$oldifs
# shellcheck disable=SC2086
fio_cases /tmp/fio.out "$@" -- $FIO --filename="$dev" --randrepeat=0 $jobs

# Written through pvdisk0, verified through the backing device, and the
# reverse (fio verify_only replays the job's offsets and checks headers).
cross_job() {
	echo "--name=$1 --filename=$2 --offset=$3 --bs=64k --iodepth=16 --size=16M --rw=write --verify=crc32c"
}
# shellcheck disable=SC2046
if ! $FIO $(cross_job j1 "$dev" 512M) --do_verify=0 \
	$(cross_job j2 "$PVDISK_DISK" 576M) --do_verify=0 >/tmp/fio.out 2>&1; then
	sed 's/^/# /' /tmp/fio.out
	ktap_fail "fio: 16 MiB written via $dev and via $PVDISK_DISK"
fi
# shellcheck disable=SC2046
fio_cases /tmp/fio.out "fio: written via $dev, verified via $PVDISK_DISK" \
	"fio: written via $PVDISK_DISK, verified via $dev" -- $FIO \
	$(cross_job j1 "$PVDISK_DISK" 512M) --verify_only=1 --verify_fatal=1 \
	$(cross_job j2 "$dev" 576M) --verify_only=1 --verify_fatal=1

# dd_cross WRITE_DEV READ_DEV OFFSET_MIB
# (/tmp/pat, 4 MiB of random data, is made once: each offset held other
# data before.)
dd if=/dev/urandom of=/tmp/pat bs=1M count=4 iflag=fullblock 2>/dev/null
dd_cross() {
	dd if=/tmp/pat of="$1" bs=1M seek="$3" oflag=direct conv=notrunc 2>/dev/null &&
	dd if="$2" of=/tmp/back bs=1M skip="$3" count=4 iflag=direct 2>/dev/null &&
	cmp /tmp/pat /tmp/back
}
ktap_check "dd/cmp: via $dev, read via $PVDISK_DISK" dd_cross "$dev" "$PVDISK_DISK" 700
ktap_check "dd/cmp: via $PVDISK_DISK, read via $dev" dd_cross "$PVDISK_DISK" "$dev" 710

last=$(( $(bdev_bytes "$dev") / 1048576 - 4 ))
ktap_check "dd/cmp: the last 4 MiB of the device" dd_cross "$dev" "$PVDISK_DISK" $last

t_beyond_end() {
	local n
	n=$(dd if="$dev" of=/dev/null bs=4k skip=$(( $(bdev_bytes "$dev") / 4096 )) count=1 iflag=direct 2>&1 |
		sed -n 's/^\([0-9]*\)+\([0-9]*\) records in/\1\2/p')
	expect_eq "records read at the end" "$n" "00"
}
ktap_check "read at the end of the device returns nothing" t_beyond_end

# Requests larger than the driver's max_hw_sectors are split on the way.
t_large() {
	dd if=/dev/urandom of=/tmp/big bs=1M count=16 iflag=fullblock 2>/dev/null &&
	dd if=/tmp/big of="$dev" bs=16M seek=50 oflag=direct 2>/dev/null &&
	dd if="$PVDISK_DISK" of=/tmp/big.back bs=16M skip=50 count=1 iflag=direct 2>/dev/null &&
	cmp /tmp/big /tmp/big.back
}
ktap_check "16 MiB O_DIRECT requests (split), read via $PVDISK_DISK" t_large

# Sub-block O_DIRECT I/O is refused when the logical block is 4 KiB; a
# buffered 512-byte write is a read-modify-write and works.
t_small() {
	local lbs
	lbs=$(blockdev --getss "$dev")
	# (busybox dd retries a refused O_DIRECT write without O_DIRECT: fio.)
	if [ "$lbs" = 4096 ] &&
		$FIO --name=small --filename="$dev" --rw=write --bs=512 --size=4k \
			--offset=4096 >/tmp/fio.out 2>&1; then
		echo "512-byte O_DIRECT write accepted with a 4096-byte logical block"
		return 1
	fi
	grep -o 'Invalid argument' /tmp/fio.out | head -n 1
	printf 'pvdisk512' | dd of="$dev" bs=512 seek=9 conv=notrunc,fsync 2>/dev/null &&
	expect_eq "512-byte buffered write, read via backing" \
		"$(dd if="$PVDISK_DISK" bs=512 skip=9 count=1 iflag=direct 2>/dev/null | head -c 9)" pvdisk512
}
ktap_check "sub-block I/O: O_DIRECT refused, buffered read-modify-write" t_small

# Discard and write-zeroes pass through: the disk offers the backing
# device's limits, and each has the same effect as on the backing device.
queue_attr() {
	cat "/sys/block/$(basename "$1")/queue/$2"
}
t_limits() {
	local a
	for a in discard_max_bytes write_zeroes_max_bytes; do
		expect_eq "$a" "$(queue_attr "$dev" $a)" "$(queue_attr "$PVDISK_DISK" $a)" || return 1
	done
	[ "$(queue_attr "$dev" discard_max_bytes)" != 0 ] ||
		{ echo "the backing device cannot discard: the test VM should offer it"; return 1; }
}
ktap_check "discard and write-zeroes limits are the backing device's" t_limits

# zeroed DEV OFFSET_MIB: whether 4 MiB at OFFSET_MIB read as zeros.
zeroed() {
	dd if="$1" bs=1M skip="$2" count=4 iflag=direct 2>/dev/null |
		cmp -s - /tmp/zero4
}
# fill DEV OFFSET_MIB: 4 MiB of random data (/tmp/pat) at OFFSET_MIB.
fill() {
	dd if=/tmp/pat of="$1" bs=1M seek="$2" oflag=direct conv=notrunc 2>/dev/null
}
# util-linux blkdiscard, by path: busybox sh runs its own applet (no -z)
# before anything on PATH. -f: it refuses a device with a file system
# signature (pvdisk_flush.sh leaves ext4 on the disk).
BLKDISCARD=/usr/sbin/blkdiscard
t_zeroout() {
	head -c $((4 << 20)) /dev/zero >/tmp/zero4
	fill "$dev" 800 && ! zeroed "$PVDISK_DISK" 800 || return 1
	# -z: BLKZEROOUT, a REQ_OP_WRITE_ZEROES.
	$BLKDISCARD -f -z -o $((800 << 20)) -l $((4 << 20)) "$dev" || return 1
	zeroed "$PVDISK_DISK" 800 || { echo "not zeroed on $PVDISK_DISK"; return 1; }
}
ktap_check "blkdiscard -z of 4 MiB zeroes the backing device" t_zeroout

# Whether a discarded range reads as zeros is the device's choice (the
# test VM's disks punch a hole in their image file, where the host's file
# system allows it), so a discard through pvdisk must do what a discard
# does on the other scratch disk, which has the same settings (pvdisk
# holds its own backing device exclusively).
t_discard() {
	local raw via
	fill "$PVDISK_DISK2" 832 && fill "$dev" 864 || return 1
	$BLKDISCARD -f -o $((832 << 20)) -l $((4 << 20)) "$PVDISK_DISK2" || return 1
	$BLKDISCARD -f -o $((864 << 20)) -l $((4 << 20)) "$dev" || return 1
	if zeroed "$PVDISK_DISK2" 832; then raw=zeros; else raw=data; fi
	if zeroed "$PVDISK_DISK" 864; then via=zeros; else via=data; fi
	expect_eq "discarded range afterwards (raw disk: $raw)" "$via" "$raw" &&
		echo "a discarded range reads as $raw, through pvdisk as on the raw disk"
}
ktap_check "blkdiscard of 4 MiB does what it does on the raw device" t_discard

ktap_check "power off and remove" pvdisk_del data

# Two disks at once, each on its own backing device, do not mix data.
t_two() {
	local a b
	a=$(pvdisk_new two-a "$PVDISK_DISK") && b=$(pvdisk_new two-b "$PVDISK_DISK2") || return 1
	expect_eq "second disk name" "$b" /dev/pvdisk1 || return 1
	$FIO --name=a --filename="$a" --rw=randwrite --bs=16k --iodepth=16 --size=16M \
		--verify=crc32c --do_verify=1 --verify_pattern=0xaaaaaaaa >/tmp/fio.a 2>&1 &
	local pa=$!
	$FIO --name=b --filename="$b" --rw=randwrite --bs=16k --iodepth=16 --size=16M \
		--verify=crc32c --do_verify=1 --verify_pattern=0xbbbbbbbb >/tmp/fio.b 2>&1
	local rb=$?
	wait $pa
	local ra=$?
	[ $ra = 0 ] || cat /tmp/fio.a
	[ $rb = 0 ] || cat /tmp/fio.b
	[ $ra = 0 ] && [ $rb = 0 ] || return 1
	dd if=/tmp/pat of="$a" bs=1M seek=900 oflag=direct 2>/dev/null &&
	dd if="$PVDISK_DISK2" of=/tmp/back bs=1M skip=900 count=4 iflag=direct 2>/dev/null &&
	! cmp -s /tmp/pat /tmp/back || { echo "data written to $a appeared on $PVDISK_DISK2"; return 1; }
	pvdisk_del two-a && pvdisk_del two-b
}
ktap_check "two disks on two backings at once: verify, no crosstalk" t_two
ktap_finished
