#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo-guest`: a guest on /dev/pvdisk0, snapshotted while it runs.
#
# In the test VM, a nested QEMU guest (TCG, virtio disk on /dev/pvdisk0
# with cache=none,aio=native) writes sequence-stamped 4 KiB blocks
# (tests/pvdisk_stamp.c) while the VM takes snapshots of /dev/pvdisk0
# with PVDISK_IOC_SNAPSHOT (tests/pvdisk_checkpoint.c) and one with
# `pvdisk snapshot /dev/pvdisk0 --label mid`. Then:
#   - every snapshot is checked in the VM: each holds exactly a prefix of
#     the guest's writes, and the prefixes grow with the snapshots;
#   - `pvdisk create /dev/vdb clone --from mid` clones the tool's snapshot,
#     powered on as a disk of its own;
#   - a second nested guest boots on the clone, checks it and must find
#     the same prefix as the VM found on the snapshot "mid".
# Any violation fails (exit 1). The last lines give the figures: nested
# boot time, the writer's rate, the snapshots taken while it ran and the
# prefix found on the clone (Documentation/guest.rst).
#
#   scripts/demo-guest.sh [SECONDS]   how long the first guest writes
#                                     (default 60)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac

echo "demo-guest: building (deps, kernel, module, tool; incremental)"
log=$(mktemp)
if ! "$here/test.sh" --build-only >"$log" 2>&1; then
	cat "$log"
	rm -f "$log"
	echo "demo-guest: build failed" >&2
	exit 1
fi
rm -f "$log"
img=$("$here/guest.sh")

guest=$(cat <<'GUEST'
SECS=@SECS@
cfs=/sys/kernel/config/pvdisk
T=/tests
step() { echo; echo "---- $*"; }
show() { echo "\$ $*"; sh -c "$*" 2>&1; r=$?; [ $r = 0 ] || echo "(exit status $r)"; return $r; }
fail() { echo "demo-guest: FAILED: $*"; exit 1; }
up() { cut -d' ' -f1 /proc/uptime; }
# secs_since T0: seconds since uptime T0, one decimal
secs_since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
power_on() {
	mkdir -p "$cfs/$1" && echo /dev/vdb > "$cfs/$1/backing" &&
		echo "$2" > "$cfs/$1/vdi" && echo 1 > "$cfs/$1/power"
}
power_off() { echo 0 > "$cfs/$1/power" && rmdir "$cfs/$1"; }

# nested NAME DISK ARGS: boot the nested guest on DISK, running
# "pvdisk_stamp ARGS /dev/vda" (ARGS with commas for spaces); its console
# goes to the screen as "NAME| ..." and to /tmp/NAME.log; the uptime at
# boot is in /tmp/NAME.start.
QEMU_ARGS="-machine pc -accel tcg,tb-size=64 -nodefaults -no-user-config -display none -serial stdio -m 256 -smp 1 -cpu max -no-reboot -kernel /opt/guest/bzImage -initrd /opt/guest/initrd.cpio"
nested() {
	local name=$1 disk=$2 args=$3 cr l
	cr=$(printf '\r')
	up > "/tmp/$name.start"
	: > "/tmp/$name.log"
	echo "\$ qemu $QEMU_ARGS -append 'console=ttyS0 acpi=noirq panic=-1 quiet pvguest=$args' -drive if=none,id=d0,file=$disk,format=raw,cache=none,aio=native -device virtio-blk-pci,drive=d0"
	# shellcheck disable=SC2086
	/opt/guest/bin/qemu $QEMU_ARGS \
		-append "console=ttyS0 acpi=noirq panic=-1 quiet pvguest=$args" \
		-drive "if=none,id=d0,file=$disk,format=raw,cache=none,aio=native" \
		-device virtio-blk-pci,drive=d0 </dev/null 2>&1 |
	while IFS= read -r l; do
		l=${l%"$cr"}
		echo "$l" >> "/tmp/$name.log"
		echo "[$(secs_since "$(cat "/tmp/$name.start")")s] $name| $l"
	done
}
# boot_secs NAME: seconds from starting QEMU to the guest's /init
boot_secs() {
	sed -n 's/^\[\([0-9.]*\)s\] .*GUEST-BOOTED.*/\1/p' "/tmp/$1.screen" | head -n 1
}

[ -x /opt/guest/bin/qemu ] || fail "no guest disk at /opt/guest (scripts/guest.sh)"
step "The nested guest: $(cat /opt/guest/kernel | cut -d' ' -f1) kernel, a busybox initramfs with pvdisk_stamp"
show "ls -la /opt/guest/bzImage /opt/guest/initrd.cpio"

step "A store on /dev/vdb with a 64 MiB VDI vm, shown as /dev/pvdisk0"
show "pvdisk format /dev/vdb --extent-size 16M && pvdisk create /dev/vdb vm --size 64M" || fail store
modprobe pvdisk || fail modprobe
power_on vm vm || fail "power on vm"
D=/dev/$(cat $cfs/vm/name)
show "blockdev --getsize64 $D"

step "Guest 1 boots on $D and writes stamped blocks for ${SECS}s; the VM snapshots $D meanwhile"
nested guest1 "$D" "write,-t,$SECS,-b,4096,-q,4,-f,16,-p,5" > /tmp/guest1.screen &
g1=$!
# Show guest 1's console as it comes.
tail -f /tmp/guest1.screen 2>/dev/null &
tailer=$!
while ! grep -q '^stamp: run' /tmp/guest1.log 2>/dev/null; do
	kill -0 $g1 2>/dev/null || { kill $tailer; fail "guest 1 stopped before writing"; }
	sleep 1
done
# Snapshots while it writes: the checkpointing client, one every 4 s,
# and, half way, one with the tool.
n=$((SECS / 4 - 1))
[ $n -ge 2 ] || n=2
$T/pvdisk_checkpoint "$D" -r 0.25 -n $n -l cp > /tmp/checkpoint.log 2>&1 &
cp=$!
sleep $((SECS / 2))
echo "\$ pvdisk snapshot $D --label mid"
pvdisk snapshot "$D" --label mid || fail "pvdisk snapshot"
wait $cp || { kill $tailer; cat /tmp/checkpoint.log; fail "pvdisk_checkpoint"; }
wait $g1
sleep 1
kill $tailer 2>/dev/null
grep -q 'GUEST-RESULT: rc=0' /tmp/guest1.log || fail "guest 1 did not finish cleanly"
echo "\$ $T/pvdisk_checkpoint $D -r 0.25 -n $n -l cp (while guest 1 ran)"
grep -v '^snapshot ' /tmp/checkpoint.log
final=$(sed -n 's/^stamp: done seq \([0-9]*\) .*/\1/p' /tmp/guest1.log)
[ -n "$final" ] || fail "guest 1 did not say how far it wrote"

step "Each snapshot holds exactly a prefix of guest 1's writes (checked in the VM)"
last=0 during=0 bad=0
for l in $(seq 1 $n) mid; do
	case $l in mid) label=mid ;; *) label=cp-$l ;; esac
	power_on check "$label" || fail "power on $label"
	r=$($T/pvdisk_stamp verify "/dev/$(cat $cfs/check/name)")
	rc=$?
	power_off check
	echo "$label: $r"
	[ $rc = 0 ] || bad=$((bad + 1))
	p=$(echo "$r" | sed -n 's/.* prefix \([0-9]*\) .*/\1/p')
	[ "$label" = mid ] && { mid=$p; continue; }
	[ "${p:-0}" -ge $last ] || { echo "  prefix went down: $last then $p"; bad=$((bad + 1)); }
	[ "${p:-0}" -lt "$final" ] && during=$((during + 1))
	last=${p:-0}
done
[ $bad = 0 ] || fail "$bad snapshots are not prefixes"

step "Clone the snapshot mid with the tool (through the driver: vm is powered) and power the clone on"
# vm is powered: the tool sends the clone to the driver (live management)
show "pvdisk create /dev/vdb clone --from mid" || fail clone
power_on clone clone || fail "power on clone"
C=/dev/$(cat $cfs/clone/name)
echo "clone: $C"

step "Guest 2 boots on the clone $C and checks it"
nested guest2 "$C" "verify" > /tmp/guest2.screen
cat /tmp/guest2.screen
grep -q 'GUEST-RESULT: rc=0' /tmp/guest2.log || fail "guest 2 found violations"
found=$(sed -n 's/^stamp: verified .* prefix \([0-9]*\) .*/\1/p' /tmp/guest2.log)
[ "$found" = "$mid" ] || fail "guest 2 found prefix $found, the VM found $mid on mid"

step "Power everything off; the store checks clean"
power_off clone && power_off vm && rmmod pvdisk || fail teardown
show "pvdisk tree /dev/vdb | head -n 8 && pvdisk check /dev/vdb" || fail check

rate=$(sed -n 's/^stamp: done .* writes\/s \([0-9.]*\) .*/\1/p' /tmp/guest1.log)
echo
echo "demo-guest: nested boot (QEMU start to /init): guest 1 $(boot_secs guest1) s, guest 2 $(boot_secs guest2) s"
echo "demo-guest: guest 1 wrote $final blocks of 4 KiB in ${SECS} s: $rate writes/s"
echo "demo-guest: snapshots: $((n + 1)) ($n by ioctl, 1 by the tool), $during of them cut guest 1's writes mid-run; all prefixes"
echo "demo-guest: the clone of mid holds exactly the writes 1..$found of $final (guest 2 and the VM agree)"
GUEST
)
guest=${guest//@SECS@/$secs}
exec "$here/vm.sh" --quiet --timeout $((secs * 3 + 3000)) --guest-disk "$img" -- "$guest"
