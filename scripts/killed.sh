#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Killed machines: the crash workload is running when QEMU is killed with
# SIGKILL (a power cut), and the store the kill left is judged when the
# machine boots again on the same disk images.
#
#   scripts/killed.sh [--rounds N] [--seed S] [--plant KIND] [--keep]
#
# Round r: a boot formats a store on vdb, powers three VDIs on and runs
# tests/pvdisk_crashload.c on them (its journal written through to vda),
# and QEMU is killed a random time after the workload journaled its
# first mark (so that something is durable); the next boot, on the same
# images, runs tests/pvdisk_killed_round.sh --verify r:
# check and the oracle on the store as the kill left it, the disks
# powered on and read through the driver, powered off and checked again.
# To save boots, the boot that verifies round r then starts round r+1; a
# last boot only verifies.
#
# QEMU's disks are files opened with cache=unsafe: a write the guest saw
# complete is in the host's page cache, and a SIGKILL of QEMU keeps it
# (the host does not crash), so a killed QEMU is a power cut of a machine
# whose disk loses nothing that completed; writes in flight are in or
# out. The orders a volatile disk cache could lose writes in are the
# dm-log-writes replay's part (tests/pvdisk_crash_replay.sh).
#
# Prints a line per round and a summary with the number of rounds that
# broke each promise (attach, check, unwritten, lost, wrong: all must be
# 0) and the seed to repeat; exits 1 if any did, or if a round could not
# be judged (the workload ended before the kill, a kernel warning, a VM
# that failed).
#
#   --rounds N   rounds (default $PVDISK_KILLED_ROUNDS, else 5)
#   --seed S     the seed of the kill times and workloads (default
#                $PVDISK_KILLED_SEED, else the time)
#   --plant KIND put a fault in before each verification (lost, wrong,
#                mark: see tests/pvdisk_killed_round.sh); the run then
#                passes only if every round catches it
#   --keep       keep the disk images and logs (else kept only on failure)
#
# PVDISK_KILLED_MAX_MS (4000): kill times are drawn between 200 ms and
# this after the workload journaled its first mark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

rounds=${PVDISK_KILLED_ROUNDS:-5}
seed=${PVDISK_KILLED_SEED:-$(date +%s)}
plant=
keep=0
max_ms=${PVDISK_KILLED_MAX_MS:-4000}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--plant) plant=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "killed: unknown argument $1" >&2; exit 2 ;;
	esac
done
case "$plant" in ""|lost|wrong|mark) ;; *) echo "killed: --plant lost|wrong|mark" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] || { echo "killed: --rounds must be at least 1" >&2; exit 2; }

mkdir -p "$PVDISK_CACHE/vm"
dir=$(mktemp -d "$PVDISK_CACHE/vm/killed.XXXXXX")
t0=$(date +%s)
echo "killed: $rounds rounds, seed $seed (PVDISK_KILLED_SEED=$seed to repeat)${plant:+, planted fault: $plant}"

# The kill times and the workloads' seeds, from the seed alone.
RANDOM=$((seed % 32768))
delay=() wseed=()
for ((r = 1; r <= rounds; r++)); do
	ms=$((200 + (RANDOM * 32768 + RANDOM) % (max_ms - 200 + 1)))
	delay[r]=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
	wseed[r]=$((seed * 1000 + r))
done

errors=0
passed=0
declare -A bad=([attach]=0 [check]=0 [unwritten]=0 [lost]=0 [wrong]=0)
caught=0
# boot N ARGS...: boot N of the run, its output in $dir/bootN.log; the
# guest's status in $vmrc.
boot() {
	local n=$1 kill=()
	shift
	[ "$n" -le "$rounds" ] && kill=(--kill-after "${delay[n]}")
	vmrc=0
	"$here/vm.sh" --disks "$dir" --label "killed" --timeout 900 "${kill[@]}" -- \
		sh /tests/pvdisk_killed_round.sh "$@" >"$dir/boot$n.log" 2>&1 || vmrc=$?
}

for ((b = 1; b <= rounds + 1; b++)); do
	args=()
	r=$((b - 1))
	[ $r -ge 1 ] && args+=(--verify $r ${plant:+--plant $plant})
	[ $b -le "$rounds" ] && args+=(--start $b "${wseed[b]}")
	bstart=$(date +%s)
	boot $b "${args[@]}"
	log=$dir/boot$b.log
	secs=$(( $(date +%s) - bstart ))
	if [ "$vmrc" != 0 ] || grep -q '^vm: FAIL' "$log"; then
		echo "boot $b: vm.sh failed (exit $vmrc); last lines:"
		grep -v '^\[' "$log" | tail -n 15 | sed 's/^/  /'
		errors=$((errors + 1))
	fi
	if grep -q '^KILLED-ERROR' "$log"; then
		grep '^KILLED-ERROR' "$log" | sed 's/^/  /'
		errors=$((errors + 1))
	fi
	if [ $r -ge 1 ]; then
		res=$(sed -n "s/^KILLED-RESULT round $r //p" "$log" | tail -n 1)
		if [ -z "$res" ]; then
			echo "round $r: no verdict (boot $b)"
			errors=$((errors + 1))
		else
			read -r _ a _ c _ u _ l _ w jl <<<"$res"
			n=0
			for k in attach:$a check:$c unwritten:$u lost:$l wrong:$w; do
				if [ "${k#*:}" != 0 ]; then
					bad[${k%:*}]=$((bad[${k%:*}] + 1))
					n=$((n + 1))
				fi
			done
			[ $n -gt 0 ] && caught=$((caught + 1))
			verdict=ok
			[ $n = 0 ] || verdict="VIOLATION"
			[ -n "$plant" ] && { [ $n = 0 ] && verdict="MISSED" || verdict="caught"; }
			echo "round $r: killed ${killed_after:-?}s after the start; $jl;" \
				"attach $a, check $c, unwritten $u, lost $l, wrong $w: $verdict"
			case $verdict in ok|caught) passed=$((passed + 1)) ;; esac
			if [ "$verdict" = VIOLATION ] || [ "$verdict" = MISSED ]; then
				grep -E '^(problem|mismatch|corrupt|planted):' "$log" | head -n 8 | sed 's/^/  /'
			fi
		fi
	fi
	killed_after=
	if [ $b -le "$rounds" ]; then
		killed_after=$(sed -n 's/^vm: killed QEMU (SIGKILL) \([0-9.]*\)s after.*/\1/p' "$log")
		if [ -z "$killed_after" ]; then
			echo "round $b: QEMU was not killed (boot $b, ${secs}s)"
			errors=$((errors + 1))
		fi
	fi
done

secs=$(( $(date +%s) - t0 ))
viol=$((bad[attach] + bad[check] + bad[unwritten] + bad[lost] + bad[wrong]))
echo "killed: $rounds rounds in ${secs}s; rounds that broke a promise: attach ${bad[attach]}," \
	"check ${bad[check]}, unwritten ${bad[unwritten]}, lost ${bad[lost]}, wrong ${bad[wrong]};" \
	"errors $errors (seed $seed)"
echo "killed: rounds passed $passed, failed $((rounds - passed))"
rc=0
[ "$passed" = "$rounds" ] || rc=1
if [ -n "$plant" ]; then
	echo "killed: planted '$plant': caught in $caught of $rounds rounds"
	[ "$caught" = "$rounds" ] && [ $errors = 0 ] || rc=1
else
	[ $viol = 0 ] && [ $errors = 0 ] || rc=1
fi
if [ $rc = 0 ] && [ $keep = 0 ]; then
	rm -rf "$dir"
else
	echo "killed: disk images and boot logs kept in $dir"
fi
exit $rc
