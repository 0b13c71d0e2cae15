#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest's half of the killed-machine test (scripts/killed.sh, which
# boots the VM on the same disk images round after round and kills QEMU
# with SIGKILL at a random moment of the workload). Not a kselftest of
# its own.
#
#   pvdisk_killed_round.sh [--verify ROUND] [--plant KIND] [--start ROUND SEED]
#
# --verify ROUND: judge what the kill of ROUND left on /dev/vdb (the
#   store) against the workload's journal on /dev/vda:
#   1. the store as the kill left it: `pvdisk check` finds no corruption
#      (leaks are fine) and every block of every VDI is zeros or a valid
#      block of its own VDI and LBA, no older than the last write
#      acknowledged before a completed flush (or FUA write, or snapshot)
#      of the journal (pvdisk-replay judge);
#   2. the disks powered on (the driver takes its holds back): each VDI
#      read through /dev/pvdiskN passes the same oracle
#      (pvdisk-replay verify --marks);
#   3. powered off: check and the oracle again.
#   Prints "KILLED-RESULT round R attach A check C unwritten U lost L
#   wrong W journal ..." (counts of points that broke each promise).
# --plant KIND: a fault put in before step 2, to show that the checks
#   fail: "lost" zeros (through the driver) the first block of the newest
#   write the journal says is durable and nothing overwrote; "wrong"
#   writes a block of garbage into v1; "mark" adds a mark to the journal
#   that says every acknowledged write is durable (as a driver that
#   acknowledged a flush without committing would). Each must be caught.
# --start ROUND SEED: format a new store on /dev/vdb, create VDIs v1
#   (64M), v2 (64M) and v3 (32M) with 1 MiB extents (so the workload keeps
#   claiming extents), power them on and run the crash workload
#   (tests/pvdisk_crashload.c, 8 threads, fsyncs, FUA writes, discards,
#   snapshots) with its journal written through to /dev/vda, until the
#   host kills the machine. The workload prints PVDISK-KILL-ARM once its
#   first mark (a completed fsync, FUA write or snapshot) is journaled;
#   the host's random delay counts from there.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

W="$(dirname "$0")/pvdisk_crashload"
S=/dev/vdb			# the store
JDEV=/dev/vda			# the journal
JBYTES=$((8 << 20))
J=/tmp/killed.journal

verify=
plant=
start=
while [ $# -gt 0 ]; do
	case "$1" in
	--verify) verify=$2; shift 2 ;;
	--plant) plant=$2; shift 2 ;;
	--start) start=$2; seed=$3; shift 3 ;;
	*) echo "pvdisk_killed_round: bad argument $1" >&2; exit 2 ;;
	esac
done

pvdisk_load >/dev/null 2>&1 || { echo "KILLED-ERROR no pvdisk module"; exit 1; }

# A number from the "judge: ... problems N (check C, unwritten U, lost L,
# wrong W)" line of $1 (empty without one).
jfield() {
	sed -n "s/^judge: .*[ (]$2 \([0-9]*\)[,;) ].*/\1/p" "$1" | tail -n 1
}

# add_judge FILE: adds the counts of a judge output to the round's; a
# judge that printed no verdict counts as a check failure.
add_judge() {
	if [ -z "$(jfield "$1" problems)" ]; then
		check=$((check + 1))
		return
	fi
	check=$((check + $(jfield "$1" check)))
	unwritten=$((unwritten + $(jfield "$1" unwritten)))
	lost=$((lost + $(jfield "$1" lost)))
	wrong=$((wrong + $(jfield "$1" wrong)))
}

# plant_lost DEV...: zero, through the driver, the first block of the
# newest write that a flush mark says is durable and that no later
# operation touched. Prints "TAG LBA GEN".
plant_lost() {
	awk '
		$1 == "op" { kind[$2 " " $3] = $4; lba[$2 " " $3] = $5; n[$2 " " $3] = $6
			for (b = $5; b < $5 + $6; b++) last[$2 " " b] = $3 }
		$1 == "ack" { ack[$2 " " $3] = $4 }
		$1 == "mark" && ($3 == "flush" || $3 == "snap") { if ($5 > seq[$4]) seq[$4] = $5 }
		$1 == "mark" && $3 == "fua" { fua[$4 " " $5] = 1 }
		END {
			best = -1
			for (k in kind) {
				split(k, t, " ")
				if (kind[k] != "W" && kind[k] != "F") continue
				if (!(k in ack)) continue
				if (!(k in fua) && !(t[1] in seq && ack[k] < seq[t[1]])) continue
				if (last[t[1] " " lba[k]] != t[2]) continue
				if (ack[k] > best) { best = ack[k]; pick = t[1] " " lba[k] " " t[2] }
			}
			if (best >= 0) print pick
		}' "$J" | {
		read -r tag lba gen || return 1
		eval "d=\$dev$tag"
		/usr/sbin/blkdiscard -z -o $((lba * 4096)) -l 4096 "$d" || return 1
		echo "$tag $lba $gen"
	}
}

do_verify() {
	local r=$1 v i out jl
	attach=0 check=0 unwritten=0 lost=0 wrong=0
	echo "verify round $r: start at uptime $(cut -d' ' -f1 /proc/uptime)s"
	dd if=$JDEV of=$J bs=1M count=$((JBYTES >> 20)) iflag=direct 2>/dev/null ||
		{ echo "KILLED-ERROR round $r: cannot read the journal"; return 1; }
	if [ "$plant" = mark ]; then
		# Cut where the kill did (the text ends at the first NUL, a
		# record cut short is left out), then claim every acknowledged
		# write durable for each VDI.
		tr -d '\000' <$J >$J.txt
		[ "$(tail -c 1 $J.txt | od -An -tx1 | tr -d ' ')" = 0a ] || sed -i '$d' $J.txt
		n=$(grep -c '^ack ' $J.txt)
		for v in 1 2 3; do echo "mark planted$v flush $v $((n + 1000000))"; done >>$J.txt
		cp $J.txt $J
		echo "planted: a mark that says every acknowledged write is durable"
	fi
	# 1. The store as the kill left it.
	pvdisk-replay judge --journal $J $S >/tmp/judge.out 2>&1
	cat /tmp/judge.out
	jl=$(grep '^journal:' /tmp/judge.out)
	add_judge /tmp/judge.out
	# 2. Powered on, through the driver.
	i=0
	for v in v1 v2 v3; do
		i=$((i + 1))
		d=$(store_new c$i $v $S) || { attach=$((attach + 1)); continue; }
		eval "dev$i=$d"
	done
	if [ $attach = 0 ]; then
		case "$plant" in
		lost)
			out=$(plant_lost) || { echo "KILLED-ERROR round $r: nothing to plant"; return 1; }
			echo "planted: zeros over VDI tag/lba/gen $out, durable per the journal" ;;
		wrong)
			dd if=/dev/urandom of="$dev1" bs=4096 seek=7 count=1 oflag=direct 2>/dev/null
			echo "planted: garbage in v1 lba 7" ;;
		esac
		i=0
		for v in v1 v2 v3; do
			i=$((i + 1))
			eval "d=\$dev$i"
			pvdisk-replay verify --journal $J --marks $v "$d" >/tmp/verify.out 2>&1
			cat /tmp/verify.out
			grep -q 'mismatches 0$' /tmp/verify.out && continue
			lost=$((lost + $(grep -c '^mismatch: .*: lost' /tmp/verify.out)))
			wrong=$((wrong + $(grep '^mismatch: ' /tmp/verify.out | grep -vc ': lost')))
			grep -q '^verify: ' /tmp/verify.out || check=$((check + 1))
		done
	fi
	for i in 1 2 3; do
		[ -d "$PVDISK_CFS/c$i" ] || continue
		power c$i 0 >/dev/null 2>&1 || attach=$((attach + 1))
		rmdir "$PVDISK_CFS/c$i"
	done
	# 3. Powered off: the store after the driver's attach and detach.
	pvdisk check $S >/tmp/check.out 2>&1 || { check=$((check + 1)); cat /tmp/check.out; }
	grep -E '^pvdisk check|^leaked' /tmp/check.out
	pvdisk-replay judge --journal $J $S >/tmp/judge.out 2>&1
	grep -E '^judge|^problem' /tmp/judge.out
	add_judge /tmp/judge.out
	echo "verify round $r: end at uptime $(cut -d' ' -f1 /proc/uptime)s"
	echo "KILLED-RESULT round $r attach $attach check $check unwritten $unwritten" \
		"lost $lost wrong $wrong ${jl#journal: }"
}

do_start() {
	local r=$1 a b c
	pvdisk format $S --extent-size 1M --force >/dev/null &&
	pvdisk create $S v1 --size 64M >/dev/null &&
	pvdisk create $S v2 --size 64M >/dev/null &&
	pvdisk create $S v3 --size 32M >/dev/null || { echo "KILLED-ERROR round $r: setup"; return 1; }
	a=$(store_new c1 v1 $S) && b=$(store_new c2 v2 $S) && c=$(store_new c3 v3 $S) ||
		{ echo "KILLED-ERROR round $r: power on"; return 1; }
	echo "round $r: workload seed $seed, at uptime $(cut -d' ' -f1 /proc/uptime)s"
	"$W" run --seed "$seed" --ops 10000000 --threads 8 --snap-pct 3 \
		--journal $JDEV --journal-sync $JBYTES --say-after-mark PVDISK-KILL-ARM \
		v1="$a" v2="$b" v3="$c"
	echo "KILLED-ERROR round $r: the workload ended before the kill"
	return 1
}

rc=0
if [ -n "$verify" ]; then
	do_verify "$verify" || rc=1
fi
if [ -n "$start" ]; then
	do_start "$start" || rc=1
fi
exit $rc
