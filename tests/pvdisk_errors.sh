#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Errors of the backing device reach the caller. pvdisk runs over a
# device-mapper device whose table is switched between the scratch disk
# (linear) and the error target, in whole or in part: a failing request
# ends with EIO and a rate-limited kernel log line, nothing hangs, and the
# disk serves the same data again once its backing device works.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
command -v dmsetup >/dev/null || ktap_skip_all "dmsetup missing"
ktap_header

MIB=2048 # sectors
SIZE=$((64 * MIB))
backing=/dev/mapper/pvdisk-err

cleanup() {
	pvdisk_cleanup
	dmsetup remove pvdisk-err 2>/dev/null
	dmsetup mknodes
}
trap cleanup EXIT

# retable TABLE: swap the backing device's table (one target per line).
retable() {
	dmsetup suspend pvdisk-err &&
		printf '%s\n' "$1" | dmsetup load pvdisk-err &&
		dmsetup resume pvdisk-err
}
linear="0 $SIZE linear $PVDISK_DISK 0"
# The first 32 MiB on the scratch disk, the second 32 MiB failing.
half="0 $((32 * MIB)) linear $PVDISK_DISK 0
$((32 * MIB)) $((32 * MIB)) error"
failing="0 $SIZE error"

# io_errno if=|of= DEV OFFSET_MIB COUNT_MIB: O_DIRECT dd of COUNT_MIB
# MiB; prints the errno name if it fails, nothing if it works.
io_errno() {
	local out e
	if [ "$1" = if ]; then
		out=$(dd if="$2" of=/dev/null bs=1M skip="$3" count="$4" iflag=direct 2>&1) &&
			return 0
	else
		out=$(dd if=/tmp/pat of="$2" bs=1M seek="$3" count="$4" oflag=direct conv=notrunc 2>&1) &&
			return 0
	fi
	e=$(errno_of "$out")
	echo "${e:-"unknown error ($out)"}"
}

# expect_errno WANT if=|of= DEV OFFSET_MIB COUNT_MIB
expect_errno() {
	local want=$1 got
	shift
	got=$(io_errno "$@")
	expect_eq "dd $1 $2 at $3 MiB, $4 MiB" "${got:-success}" "$want"
}

# kernel_lines PATTERN: how many lines of the kernel log match PATTERN
# (the whole log: busybox sh runs its dmesg applet, which reads 16 KiB).
kernel_lines() {
	dmesg -s 16777216 | grep -c "$1"
}
LOGLINE='pvdisk: backing I/O error at sector'

pvdisk_load || { ktap_fail "load module"; ktap_finished; }
dd if=/dev/urandom of=/tmp/pat bs=1M count=8 iflag=fullblock 2>/dev/null
echo "$linear" | dmsetup create pvdisk-err && dmsetup mknodes &&
	dev=$(pvdisk_new errors "$backing") ||
	{ ktap_fail "create a disk over $backing"; ktap_finished; }
ktap_ok "create $dev over $backing"

t_write() {
	dd if=/tmp/pat of="$dev" bs=1M count=8 oflag=direct 2>/dev/null &&
		dd if="$dev" of=/tmp/back bs=1M count=8 iflag=direct 2>/dev/null &&
		cmp /tmp/pat /tmp/back
}
ktap_check "8 MiB written and read back while the backing device works" t_write

t_failing() {
	local before
	before=$(kernel_lines "$LOGLINE")
	retable "$failing" || return 1
	expect_errno EIO if "$dev" 0 1 &&
		expect_errno EIO of "$dev" 4 1 || return 1
	[ "$(kernel_lines "$LOGLINE")" -gt "$before" ] ||
		{ echo "no '$LOGLINE' line in the kernel log"; return 1; }
}
ktap_check "reads and writes fail with EIO and a kernel log line" t_failing

# Thousands of failing requests log a bounded number of lines: at most
# a burst of 10 per call site and 5-second window.
t_ratelimit() {
	local before start lines secs
	before=$(kernel_lines "$LOGLINE")
	start=$(cut -d. -f1 /proc/uptime)
	fio --name=errors --filename="$dev" --ioengine=libaio --direct=1 \
		--iodepth=32 --rw=randread --bs=4k --size=32M --number_ios=2000 \
		--continue_on_error=all --output-format=terse >/dev/null 2>&1
	secs=$(($(cut -d. -f1 /proc/uptime) - start))
	lines=$(($(kernel_lines "$LOGLINE") - before))
	echo "2000 failing reads in ${secs}s: $lines log lines"
	[ "$lines" -ge 1 ] && [ "$lines" -le $((10 * (secs / 5 + 2))) ] || return 1
	# The first line of the next window says how many were dropped.
	sleep 6
	expect_errno EIO if "$dev" 0 1 || return 1
	dmesg -s 16777216 | grep "pvdisk: [0-9]* similar lines suppressed" | tail -n 1 |
		grep -q "pvdisk: [1-9][0-9]* similar" ||
		{ echo "no 'N similar lines suppressed' line"; return 1; }
}
ktap_check "2000 failing reads log a rate-limited number of lines, then the count dropped" t_ratelimit

# A request that spans working and failing sectors fails as a whole; the
# working part alone still reads.
t_partial() {
	retable "$half" || return 1
	expect_errno EIO if "$dev" 31 2 &&
		expect_errno success if "$dev" 0 8 &&
		expect_errno EIO of "$dev" 32 1
}
ktap_check "a request half on failing sectors fails, the rest reads" t_partial

t_recovered() {
	retable "$linear" || return 1
	dd if="$dev" of=/tmp/back bs=1M count=8 iflag=direct 2>/dev/null &&
		cmp /tmp/pat /tmp/back || { echo "data changed across the errors"; return 1; }
	t_write
}
ktap_check "the backing device back: same data, I/O works again" t_recovered

t_teardown() {
	pvdisk_del errors || return 1
	# pvdisk has let go of the device-mapper device.
	dmsetup remove pvdisk-err
}
ktap_check "power off, remove, and the backing device is free" t_teardown

ktap_finished
