#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load and unload pvdisk 20 times, each time with a disk powered on and a
# little I/O done through it.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap pvdisk_cleanup EXIT
ROUNDS=${PVDISK_RELOAD_ROUNDS:-20}

dd if=/dev/urandom of=/tmp/reload.pat bs=64k count=4 iflag=fullblock 2>/dev/null

round() {
	local dev
	pvdisk_load || { echo "load failed"; return 1; }
	dev=$(pvdisk_new r "$PVDISK_DISK") || return 1
	dd if=/tmp/reload.pat of="$dev" bs=64k seek=$(( $1 * 4 )) oflag=direct 2>/dev/null &&
	dd if="$dev" of=/tmp/reload.back bs=64k skip=$(( $1 * 4 )) count=4 iflag=direct 2>/dev/null &&
	cmp /tmp/reload.pat /tmp/reload.back || return 1
	pvdisk_del r || return 1
	rmmod pvdisk || return 1
	! grep -q '^pvdisk ' /proc/modules
}

failed=0
i=0
while [ $i -lt $ROUNDS ]; do
	out=$(round $i 2>&1) || {
		printf '%s\n' "$out" | sed 's/^/# /'
		echo "# round $i failed"
		failed=$((failed + 1))
		pvdisk_cleanup
	}
	i=$((i + 1))
done
ktap_result "$ROUNDS x (load, power on, 256 KiB I/O, power off, rmdir, unload)" $failed
ktap_finished
