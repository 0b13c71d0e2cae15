#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bad input to the configfs interface: every case gets its errno, leaves
# the attributes as they were and makes no /dev/pvdiskN.
#
# Decisions tested here (see Documentation/admin-guide.rst):
#  - rmdir of a powered disk fails with EBUSY and changes nothing; power
#    it off first (rmdir then releases everything);
#  - power=0 while /dev/pvdiskN is open fails with EBUSY;
#  - rmmod fails while a disk directory exists (configfs holds the module);
#  - the backing is opened exclusively: a second pvdisk or another user
#    (device-mapper here) on the same device gets EBUSY, both ways.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap 'dmsetup remove_all >/dev/null 2>&1; pvdisk_cleanup' EXIT

pvdisk_load || { ktap_fail "load module"; ktap_finished; }
D=$PVDISK_CFS/bad
mkdir "$D" || { ktap_fail "mkdir $D"; ktap_finished; }
ktap_ok "mkdir $D"

# unchanged DIR BACKING DEVS: powered off, backing as given, devices as given
unchanged() {
	expect_eq "$1 power" "$(cat "$1/power")" 0 &&
	expect_eq "$1 name" "$(cat "$1/name")" "" &&
	expect_eq "$1 backing" "$(cat "$1/backing")" "$2" &&
	expect_eq "pvdisk devices" "$(pvdisk_devs)" "$3"
}

# bad DIR ERRNO VALUE ATTR BACKING-AFTER DEVS-AFTER
bad() {
	expect_write_err "$2" "$3" "$1/$4" && unchanged "$1" "$5" "$6"
}

touch /tmp/regular
long=$(printf '%04000d' 0 | tr 0 a)

ktap_check "backing: no such path -> ENOENT" bad "$D" ENOENT /dev/nonexistent backing "" ""
ktap_check "backing: /dev/null -> ENOTBLK" bad "$D" ENOTBLK /dev/null backing "" ""
ktap_check "backing: regular file -> ENOTBLK" bad "$D" ENOTBLK /tmp/regular backing "" ""
ktap_check "backing: directory -> ENOTBLK" bad "$D" ENOTBLK /tmp backing "" ""
ktap_check "backing: empty -> EINVAL" bad "$D" EINVAL "" backing "" ""
ktap_check "backing: 4000 characters -> EINVAL or ENAMETOOLONG" bad "$D" "EINVAL|ENAMETOOLONG" "/dev/$long" backing "" ""
ktap_check "power=1 without backing -> EINVAL" bad "$D" EINVAL 1 power "" ""
ktap_check "power=0 while off: ok, nothing changes" \
	sh -c ". ./ktap; expect_write_ok 0 '$D/power' && expect_eq power \$(cat '$D/power') 0"
for v in abc 2 -1 "" 1x " " 0x1 99999999999999999999; do
	ktap_check "power='$v' -> EINVAL" bad "$D" EINVAL "$v" power "" ""
done

t_power_on() {
	expect_write_ok "$PVDISK_DISK" "$D/backing" || return 1
	# A write without a newline is fine too.
	printf 1 >"$D/power" || return 1
	expect_eq name "$(cat "$D/name")" pvdisk0 && [ -b /dev/pvdisk0 ]
}
ktap_check "power on over $PVDISK_DISK (printf 1, no newline)" t_power_on

t_busy_backing() {
	expect_write_err EBUSY "$PVDISK_DISK2" "$D/backing" &&
	expect_eq backing "$(cat "$D/backing")" "$PVDISK_DISK" &&
	expect_write_err EBUSY "" "$D/backing" &&
	expect_eq backing "$(cat "$D/backing")" "$PVDISK_DISK" &&
	expect_eq power "$(cat "$D/power")" 1
}
ktap_check "backing change while powered -> EBUSY, unchanged" t_busy_backing

t_power_garbage_on() {
	expect_write_err EINVAL abc "$D/power" &&
	expect_eq power "$(cat "$D/power")" 1 && [ -b /dev/pvdisk0 ]
}
ktap_check "power=abc while powered -> EINVAL, still powered" t_power_garbage_on

t_power_again() {
	expect_write_ok 1 "$D/power" &&
	expect_eq name "$(cat "$D/name")" pvdisk0 &&
	expect_eq "pvdisk devices" "$(pvdisk_devs)" "pvdisk0 "
}
ktap_check "power=1 while powered: ok, nothing changes" t_power_again

D2=$PVDISK_CFS/bad2
t_second_disk() {
	mkdir "$D2" || return 1
	expect_write_ok "$PVDISK_DISK" "$D2/backing" &&
	expect_write_err EBUSY 1 "$D2/power" &&
	unchanged "$D2" "$PVDISK_DISK" "pvdisk0 "
}
ktap_check "second disk on the same backing: power=1 -> EBUSY" t_second_disk

t_dm_on_held() {
	local sectors=$(( $(bdev_bytes "$PVDISK_DISK") / 512 ))
	if dmsetup create badlin --table "0 $sectors linear $PVDISK_DISK 0" 2>/dev/null; then
		dmsetup remove badlin
		echo "device-mapper could open $PVDISK_DISK while pvdisk0 holds it"
		return 1
	fi
	dmsetup remove badlin 2>/dev/null
	return 0
}
ktap_check "backing held by pvdisk: device-mapper cannot claim it" t_dm_on_held

t_held_by_dm() {
	local sectors=$(( $(bdev_bytes "$PVDISK_DISK2") / 512 ))
	dmsetup create badlin2 --table "0 $sectors linear $PVDISK_DISK2 0" || return 1
	expect_write_ok "$PVDISK_DISK2" "$D2/backing" &&
	expect_write_err EBUSY 1 "$D2/power" &&
	unchanged "$D2" "$PVDISK_DISK2" "pvdisk0 "
	local rc=$?
	dmsetup remove badlin2 || rc=1
	[ $rc = 0 ] || return 1
	# Released by device-mapper: now it works.
	expect_write_ok 1 "$D2/power" &&
	expect_eq name "$(cat "$D2/name")" pvdisk1 &&
	[ -b /dev/pvdisk1 ] &&
	expect_write_ok 0 "$D2/power" &&
	unchanged "$D2" "$PVDISK_DISK2" "pvdisk0 "
}
ktap_check "backing held by device-mapper: EBUSY, then ok once released" t_held_by_dm

t_rmmod_busy() {
	if rmmod pvdisk 2>/tmp/rmmod.err; then
		echo "rmmod succeeded with disks declared"
		return 1
	fi
	cat /tmp/rmmod.err
	grep -q '^pvdisk ' /proc/modules && [ -d "$D" ] && [ -b /dev/pvdisk0 ]
}
ktap_check "rmmod with disks declared fails, module stays" t_rmmod_busy

t_rmdir_powered() {
	local err
	if rmdir "$D" 2>/tmp/rmdir.err; then
		echo "rmdir of a powered disk succeeded"
		return 1
	fi
	err=$(errno_of "$(cat /tmp/rmdir.err)")
	expect_eq "rmdir errno" "$err" EBUSY || return 1
	[ -d "$D" ] && expect_eq power "$(cat "$D/power")" 1 &&
	expect_eq name "$(cat "$D/name")" pvdisk0 &&
	dd if=/dev/pvdisk0 of=/dev/null bs=64k count=1 iflag=direct 2>/dev/null || return 1
	# Powered off, it goes, and the backing is free for another disk.
	expect_write_ok 0 "$D/power" && rmdir "$D" || return 1
	expect_eq "pvdisk devices" "$(pvdisk_devs)" "" &&
	expect_write_ok "$PVDISK_DISK" "$D2/backing" &&
	expect_write_ok 1 "$D2/power" && [ -b "/dev/$(cat "$D2/name")" ] &&
	expect_write_ok 0 "$D2/power"
}
ktap_check "rmdir of a powered disk -> EBUSY; after power=0 it goes" t_rmdir_powered

t_power_off_open() {
	local rc
	expect_write_ok 1 "$D2/power" || return 1
	local dev
	dev=/dev/$(cat "$D2/name")
	exec 3<"$dev"
	rc=0
	err=$(write_attr 0 "$D2/power")
	echo "power=0 with $dev open: ${err:-ok}"
	[ "$err" = EBUSY ] || rc=1
	exec 3<&-
	if [ "$err" = EBUSY ]; then
		expect_write_ok 0 "$D2/power" || rc=1
	fi
	unchanged "$D2" "$PVDISK_DISK" "" || rc=1
	return $rc
}
ktap_check "power=0 while the device is open -> EBUSY, ok once closed" t_power_off_open

t_power_off_io() {
	expect_write_ok 1 "$D2/power" || return 1
	local dev
	dev=/dev/$(cat "$D2/name")
	fio --name=bg --filename="$dev" --ioengine=libaio --direct=1 --rw=randrw \
		--bs=4k --iodepth=32 --time_based --runtime=8 \
		--output-format=terse >/dev/null 2>&1 &
	local pid=$! err i=0 r0
	# Once fio's I/O has begun (more reads completed on the backing
	# device, /sys/block/*/stat: a bio-based disk keeps no statistics of
	# its own): starting fio takes seconds in the VM.
	reads() { awk '{ print $1 }' "/sys/block/${PVDISK_DISK#/dev/}/stat"; }
	r0=$(reads)
	while [ "$(reads)" = "$r0" ] && [ $i -lt 100 ]; do
		sleep 0.3
		i=$((i + 1))
	done
	err=$(write_attr 0 "$D2/power")
	echo "power=0 during fio: ${err:-ok}"
	if [ "$err" = EBUSY ]; then
		wait $pid
		expect_write_ok 0 "$D2/power" || return 1
	else
		wait $pid
		echo "fio exit status $? (I/O errors are expected)"
	fi
	unchanged "$D2" "$PVDISK_DISK" ""
}
ktap_check "power=0 during I/O: no crash, consistent" t_power_off_io

ktap_check "rmdir the last disk" rmdir "$D2"
ktap_check "rmmod once no disk is declared" rmmod pvdisk

ktap_finished
