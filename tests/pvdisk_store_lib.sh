# SPDX-License-Identifier: GPL-2.0
# Helpers of the store kselftests (pvdisk_store*.sh), sourced after ktap:
# steps with their time and kernel log, disks of a store, the store's
# metadata as the tool sees it. Not a test of its own.

M="$(dirname "$0")/pvdisk_model"
SEED=${PVDISK_MODEL_SEED:-$(date +%s)}

# store_requirements: skip the whole test without the module, the tool
# or the model checker
store_requirements() {
	pvdisk_available || ktap_skip_all "pvdisk module not built"
	command -v pvdisk >/dev/null 2>&1 || ktap_skip_all "pvdisk tool not built"
	[ -x "$M" ] || ktap_skip_all "pvdisk_model not built"
}

# Kernel log lines since the last mark, shown when a step fails.
klog_mark() {
	KLOG_LINES=$(dmesg | wc -l)
}

# step NAME FUNC ARGS...: ktap_check, with the kernel log of the step on failure.
step() {
	local name=$1 before=$KTAP_FAIL t0
	shift
	klog_mark
	t0=$(cut -d. -f1 /proc/uptime)
	ktap_check "$name" "$@"
	ktap_print_msg "($(($(cut -d. -f1 /proc/uptime) - t0))s)"
	if [ $KTAP_FAIL != "$before" ]; then
		dmesg | tail -n +$((KLOG_LINES + 1)) | tail -n 30 | sed 's/^/# dmesg: /'
	fi
}

# store_new DIR VDI [STORE]: mkdir, backing, vdi, power on; prints /dev/...
store_new() {
	local d="$PVDISK_CFS/$1" n
	mkdir "$d" || return 1
	expect_write_ok "${3:-$S}" "$d/backing" >&2 || return 1
	expect_write_ok "$2" "$d/vdi" >&2 || return 1
	expect_write_ok 1 "$d/power" >&2 || return 1
	n=$(cat "$d/name")
	[ -n "$n" ] && [ -b "/dev/$n" ] || { echo "$1: no device after power=1" >&2; return 1; }
	echo "/dev/$n"
}

# power DIR 0|1
power() {
	expect_write_ok "$2" "$PVDISK_CFS/$1/power"
}

# dev DIR: the disk's device
dev() {
	echo "/dev/$(cat "$PVDISK_CFS/$1/name")"
}

# stat_of DIR KEY: a value of the stats attribute
stat_of() {
	sed -n "s/^$2 //p" "$PVDISK_CFS/$1/stats"
}

# fingerprint STORE [nosum]: the store's metadata as the tool sees it, for
# before/after comparisons: info, list and check, and a checksum of the
# system extent (superblock, catalogue, VDI registry), left out with
# "nosum" (a VDI record's generation goes up at every attach and detach).
fingerprint() {
	pvdisk info "$1" --json 2>&1
	pvdisk list "$1" --json --bytes 2>&1
	pvdisk check "$1" 2>&1
	[ "$2" = nosum ] || dd if="$1" bs=4M count=1 iflag=direct 2>/dev/null | md5sum
}

# check_clean STORE: pvdisk check passes and finds no leak (with every disk
# off, the driver has given back its reserve and what unmaps freed)
check_clean() {
	pvdisk check "$1" >/tmp/check.out 2>&1
	local rc=$?
	cat /tmp/check.out
	[ $rc = 0 ] || return 1
	if grep -q leaked /tmp/check.out; then
		echo "leaks with every disk off"
		return 1
	fi
}

# mark_store [FILE [nosum]]: remember the store's metadata (the tool
# reads a store beside powered disks; none of them is written meanwhile)
mark_store() {
	fingerprint "$S" $2 >"${1:-/tmp/fp.before}"
}
# same_store [FILE [nosum]]: the store's metadata is as it was at mark_store
same_store() {
	fingerprint "$S" $2 >/tmp/fp.after
	cmp -s "${1:-/tmp/fp.before}" /tmp/fp.after && return 0
	echo "the store changed:"
	diff "${1:-/tmp/fp.before}" /tmp/fp.after
	return 1
}

# same4m FILE DEV: the first 4 MiB of DEV are FILE
same4m() {
	dd if="$2" bs=1M count=4 iflag=direct 2>/dev/null | cmp -s "$1" - ||
		{ echo "$2 does not hold $1"; return 1; }
}
