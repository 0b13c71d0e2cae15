#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The tool's live management (Documentation/tool.rst, *Live management*):
# pvdisk create, delete and label on a store whose disks are powered go
# through the driver (PVDISK_IOC_CREATE, _DELETE, _LABEL), by themselves:
#  - the same session of commands (successes and refusals) prints the
#    same lines and exits the same, run live (a disk of the store powered)
#    and offline (every disk off), and leaves the same VDIs and snapshots
#    (live, the successes reach the driver; the refusals the committed
#    state shows do not: the driver's side of each errno is tested by
#    pvdisk_manage.sh);
#  - a clone of a snapshot made while its VDI is powered reads the
#    snapshot's data once powered on;
#  - a label set live shows in pvdisk snaps at once;
#  - deleting a snapshot a powered read-only disk shows, or a powered VDI,
#    is refused with EBUSY naming the disk, and changes nothing;
#  - deleting an unpowered VDI and an unshown snapshot works while other
#    disks are powered;
#  - the commands that work only offline say what to do instead;
#  - pvdisk check is clean after power-off and gc.
# It fails if the tool writes a live store itself (the exclusive open
# fails, so a change would be refused), if a live sentence or exit status
# differs from the offline one, or if a refusal changes the store.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK
dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=4 2>/dev/null

# prepare: the same store every time, made offline: gold (16M) holding
# /tmp/a, with snapshots gold@1 'base' and gold@2; p (8M) with p@1 'psnap'
prepare() {
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" gold --size 16M >/dev/null &&
	pvdisk import "$S" gold /tmp/a >/dev/null &&
	pvdisk snapshot "$S" gold --label base >/dev/null &&
	pvdisk snapshot "$S" gold >/dev/null &&
	pvdisk create "$S" p --size 8M >/dev/null &&
	pvdisk snapshot "$S" p --label psnap >/dev/null
}

# session OUT: the commands compared live and offline: each one's line,
# output (stdout and stderr, times of day cut out: prepare ran at another
# time) and exit status go to OUT, then the VDIs left (without the holds,
# which differ). The successes are the calls that reach the driver live;
# the refusals are those the committed state shows.
session() {
	local c
	while read -r c; do
		echo "\$ pvdisk $c"
		# shellcheck disable=SC2086
		pvdisk $c >/tmp/cmd.out 2>&1
		echo "exit $?"
		sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/TIME/' /tmp/cmd.out
	done >"$1" <<-EOF
	create $S c1 --from base
	create $S gold --size 4M
	create $S c2 --from gold@9
	label $S gold@2 two
	snaps $S gold
	label $S two base
	delete $S p
	delete $S p --force
	delete $S two
	EOF
	pvdisk list "$S" | awk '{ print $1, $2, $3, $7, $8 }' >>"$1"
}

t_live() {
	local c
	pvdisk_load && prepare && D=$(store_new gold gold) || return 1
	dd if=/tmp/b of="$D" bs=1M oflag=direct 2>/dev/null &&
	session /tmp/live.out || return 1
	cat /tmp/live.out
	grep -qx "created VDI 'c1' (16M), a clone of base" /tmp/live.out &&
	grep -qx "labelled gold@2 'two'" /tmp/live.out &&
	grep -qE "^gold@2 +TIME +live +two$" /tmp/live.out &&
	grep -qx "deleted snapshot gold@2; run 'pvdisk gc' to reclaim its blocks" /tmp/live.out &&
	grep -qx "deleted VDI 'p'; run 'pvdisk gc' to reclaim its blocks" /tmp/live.out &&
	! grep -qE "^p [0-9]" /tmp/live.out &&
	c=$(store_new c1 c1) &&
	same4m /tmp/a "$c" && same4m /tmp/b "$D"
}
step "live: clone of base while gold is powered reads base, label shows in snaps at once, deletes of an unpowered VDI and an unshown snapshot" t_live
D=$(dev gold)

# refused EXIT PATTERN ARGS...: pvdisk ARGS exits EXIT, prints nothing on
# stdout, and its sentence on stderr matches PATTERN (grep BRE)
refused() {
	local want=$1 pattern=$2 rc
	shift 2
	pvdisk "$@" >/tmp/out 2>/tmp/err
	rc=$?
	cat /tmp/err
	expect_eq "exit status of pvdisk $*" $rc "$want" || return 1
	grep -q -- "$pattern" /tmp/err ||
		{ echo "stderr does not match '$pattern'"; return 1; }
	[ ! -s /tmp/out ] || { echo "stdout is not empty:"; cat /tmp/out; return 1; }
}

t_busy() {
	local s
	s=$(store_new s1 base) || return 1
	sync
	pvdisk list "$S" >/tmp/list.before && pvdisk snaps "$S" gold >/tmp/snaps.before || return 1
	refused 1 "^pvdisk delete: snapshot gold@1 is shown by a powered disk ($s); power it off first (EBUSY)$" \
		delete "$S" base &&
	refused 1 "^pvdisk delete: VDI 'gold' is shown by a powered disk ($D); power it off first (EBUSY)$" \
		delete "$S" gold --force &&
	pvdisk list "$S" | cmp -s /tmp/list.before - &&
	pvdisk snaps "$S" gold | cmp -s /tmp/snaps.before - &&
	same4m /tmp/a "$s"
}
step "deleting a shown snapshot or a powered VDI: EBUSY naming the disk, nothing changed" t_busy

t_offline_only() {
	local what="works only with all of them powered off"
	refused 1 "$what; take it through the driver: pvdisk snapshot $D$" snapshot "$S" gold &&
	refused 1 "$what; .*'pvdisk label'" rename "$S" c1 c2 &&
	refused 1 "$what; .*driver's reserve" gc "$S"
}
step "offline-only commands on a live store say what to do instead" t_offline_only

t_same() {
	pvdisk_cleanup
	pvdisk gc "$S" >/dev/null && check_clean "$S" || return 1
	prepare && session /tmp/offline.out || return 1
	cmp -s /tmp/live.out /tmp/offline.out ||
		{ echo "live and offline differ:"; diff /tmp/offline.out /tmp/live.out; return 1; }
}
step "every disk off: check clean after gc; offline, the same commands print and leave the same" t_same

ktap_finished
