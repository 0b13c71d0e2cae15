#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The model checker (tests/pvdisk_model.c) on its own, before it judges
# the store: random writes, overwrites, discards and reads, 16 threads over
# three raw scratch disks at once, verified through the disks and from an
# image copy; a flipped byte in the copy must be found; then the same
# through today's pass-through /dev/pvdiskN, two disks at once, across a
# power cycle.
. "$(dirname "$0")/ktap"

M="$(dirname "$0")/pvdisk_model"
[ -x "$M" ] || ktap_skip_all "pvdisk_model not built"
ktap_header
trap pvdisk_cleanup EXIT

SEED=${PVDISK_MODEL_SEED:-$(date +%s)}
BLOCKS=16384	# 64 MiB of each device
ktap_print_msg "seed $SEED (PVDISK_MODEL_SEED=$SEED to repeat)"

# The model starts from zeros; earlier tests may have left data. (util-linux
# blkdiscard by path: busybox sh runs its own applet, without -z.)
t_zero() {
	local d
	for d in /dev/vda "$PVDISK_DISK" "$PVDISK_DISK2"; do
		/usr/sbin/blkdiscard -z -o 0 -l $((BLOCKS * 4096)) "$d" || return 1
	done
}
ktap_check "zero the first 64 MiB of the scratch disks" t_zero
ktap_check "model run: 3 raw disks, 16 threads, 1500 ops" \
	"$M" run --seed "$SEED" --ops 1500 --threads 16 --blocks $BLOCKS \
	--state /tmp/raw.state /dev/vda "$PVDISK_DISK" "$PVDISK_DISK2"
ktap_check "verify the raw disks" \
	"$M" verify --state /tmp/raw.state /dev/vda "$PVDISK_DISK" "$PVDISK_DISK2"

t_image() {
	dd if="$PVDISK_DISK" of=/tmp/raw.img bs=1M count=64 iflag=direct 2>/dev/null &&
	"$M" verify --state /tmp/raw.state --dev 1 /tmp/raw.img
}
ktap_check "verify an image copy of $PVDISK_DISK" t_image

# flip_byte FILE OFFSET: invert the bits of one byte of FILE.
flip_byte() {
	local v
	v=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	printf "\\$(printf %o $((v ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# Flip one byte in each of two blocks: verify must find exactly these two.
t_corrupt() {
	local out rc
	flip_byte /tmp/raw.img $((4096 * 1000 + 2000)) &&
	flip_byte /tmp/raw.img $((4096 * 2000 + 4095)) || return 1
	out=$("$M" verify --state /tmp/raw.state --dev 1 /tmp/raw.img)
	rc=$?
	printf '%s\n' "$out"
	expect_eq "verify exit status" $rc 1 &&
	printf '%s\n' "$out" | grep -q '^blocks compared 16384, mismatches 2$'
}
ktap_check "verify finds a flipped byte in the image (exit 1)" t_corrupt

if ! pvdisk_available; then
	ktap_skip "pass-through disks" "pvdisk module not built"
	ktap_finished
fi

t_pass() {
	local d1 d2
	pvdisk_load || return 1
	d1=$(pvdisk_new m1 "$PVDISK_DISK") && d2=$(pvdisk_new m2 "$PVDISK_DISK2") || return 1
	echo "$d1 over $PVDISK_DISK, $d2 over $PVDISK_DISK2"
	# What the raw run left, read through the disks.
	"$M" verify --state /tmp/raw.state --dev 1 "$d1" &&
	"$M" verify --state /tmp/raw.state --dev 2 "$d2" &&
	"$M" derive --state /tmp/raw.state --out /tmp/pass.state 1 2 &&
	"$M" run --resume --seed $((SEED + 1)) --ops 1500 --threads 32 \
		--state /tmp/pass.state "$d1" "$d2" &&
	"$M" verify --state /tmp/pass.state "$d1" "$d2" &&
	"$M" verify --state /tmp/pass.state "$PVDISK_DISK" "$PVDISK_DISK2"
}
ktap_check "pass-through: two disks, 32 threads, verified via disks and backing" t_pass

t_cycle() {
	echo 0 >"$PVDISK_CFS/m1/power" && echo 0 >"$PVDISK_CFS/m2/power" &&
	echo 1 >"$PVDISK_CFS/m1/power" && echo 1 >"$PVDISK_CFS/m2/power" &&
	"$M" verify --state /tmp/pass.state "/dev/$(cat "$PVDISK_CFS/m1/name")" \
		"/dev/$(cat "$PVDISK_CFS/m2/name")"
}
ktap_check "pass-through: verified after a power cycle" t_cycle

rm -f /tmp/raw.img
ktap_finished
