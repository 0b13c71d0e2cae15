#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The pvdisk test run (`make test`, and what CI runs):
#
#   1. scripts/deps.sh            host packages, rust-src, bindgen;
#      scripts/fio.sh             a static fio for the VM (once, cached)
#   2. scripts/kernel.sh          the test kernel (incremental, in the cache)
#   3. make modules               pvdisk.ko against that kernel
#   4. userspace-tools            cargo build --release, cargo test (which
#                                 runs beside step 5)
#   5. scripts/vm.sh              the kselftests (tests/), split over two
#                                 one-CPU QEMU VMs that run side by side
#   6. scripts/killed.sh          killed machines: PVDISK_KILLED_ROUNDS
#                                 (5) rounds of QEMU killed during the
#                                 crash workload, judged at the next boot;
#                                 after the VM with less work, beside
#                                 the other
#
#   scripts/test.sh [TEST...]     TEST: names from tests/Makefile TEST_PROGS,
#                                 or "killed" for step 6 (which runs
#                                 with no TEST, after the kselftests)
#   scripts/test.sh --build-only  steps 1-4 without cargo test (used by
#                                 demo.sh and bench.sh)
#
# Prints the TAP output of the kselftests (one stream per VM, one VM after
# the other) and, last, one summary line
# "N passed, N failed, N skipped" counting the kselftest cases and the
# killed-machine rounds (cargo test prints its own). Exits non-zero if anything failed: a build, cargo test,
# a test case, a kernel warning in the VM, or the VM itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/versions.sh"
[ -d "$HOME/.cargo/bin" ] && PATH=$HOME/.cargo/bin:$PATH

build_only=0
if [ "${1:-}" = --build-only ]; then
	build_only=1
	shift
fi

total_start=$(date +%s)
timings=()
extra_fail=0
extra_notes=()

phase() {
	local name=$1 start rc
	shift
	echo "==== $name"
	start=$(date +%s)
	set +e
	"$@"
	rc=$?
	set -e
	timings+=("$(printf '%-22s %5ss%s' "$name" $(( $(date +%s) - start )) \
		"$([ $rc = 0 ] || echo "  FAILED (exit $rc)")")")
	return $rc
}

print_timings() {
	echo "==== timings"
	printf '  %s\n' "${timings[@]}"
	printf '  %-22s %5ss\n' total $(( $(date +%s) - total_start ))
}

abort() {
	echo "test: $1 failed; not running the VM tests" >&2
	print_timings
	echo "0 passed, 1 failed"
	exit 1
}

phase deps "$here/deps.sh" || abort "scripts/deps.sh"
# Two test runs (or a test and a demo) must not build the kernel at once.
mkdir -p "$PVDISK_CACHE"
# Not fatal: without it the VM runs Debian's fio, only slower to start.
phase fio "$here/fio.sh" || echo "test: scripts/fio.sh failed; the VM gets Debian's fio" >&2
phase kernel flock "$PVDISK_CACHE/.kernel.lock" "$here/kernel.sh" || abort "scripts/kernel.sh"
kdir=$("$here/kernel.sh" --print)

build_module() {
	if [ -f "$repo/Makefile" ] && grep -q '^modules:' "$repo/Makefile" &&
		[ -f "$repo/Kbuild" ]; then
		make -C "$repo" KDIR="$kdir" modules
	else
		echo "module: no Kbuild/modules target yet; pvdisk tests will skip"
		rm -f "$repo/drivers/block/pvdisk/pvdisk.ko"
	fi
}
phase "make modules" build_module || abort "make modules"

tool_build() {
	[ -f "$repo/userspace-tools/Cargo.toml" ] || { echo "tool: no userspace-tools yet"; return 0; }
	(cd "$repo/userspace-tools" && cargo build --release --locked)
}
# cargo test is built here and then runs beside the VM: the two share the
# cores, and the run takes about the longer of the two rather than their
# sum (419 s instead of 513 s for a warm run here).
cargo_pid=
cargo_log=
tool_test_build() {
	[ -f "$repo/userspace-tools/Cargo.toml" ] || return 0
	(cd "$repo/userspace-tools" && cargo test --locked --no-run)
}
tool_test_start() {
	[ -f "$repo/userspace-tools/Cargo.toml" ] || return 0
	cargo_log=$(mktemp)
	(cd "$repo/userspace-tools" && exec cargo test --locked) >"$cargo_log" 2>&1 &
	cargo_pid=$!
}
tool_test_wait() {
	[ -n "$cargo_pid" ] || return 0
	local rc=0
	wait "$cargo_pid" || rc=$?
	cat "$cargo_log"
	rm -f "$cargo_log"
	return $rc
}
phase "tool build" tool_build || abort "cargo build"
if [ $build_only = 1 ]; then
	print_timings
	exit 0
fi
if phase "cargo test build" tool_test_build; then
	tool_test_start
else
	extra_fail=$((extra_fail + 1))
	extra_notes+=("cargo test did not build")
fi

# ---- the kselftests, split over VMs that run side by side ----------------
# Under TCG a VM keeps about one core busy, whatever its vCPUs. Two
# one-CPU VMs side by side, booted together, each with a share of the
# programs, keep both cores of the CI machine busy: the whole run took
# 831-931 s instead of 1221-1428 s with one two-CPU VM, and 476 s with
# KASAN's inline checks (Documentation/testing.rst, "Two VMs side by
# side").
#
# How long each program takes in such a VM (seconds, from the "# Ns" of
# its TAP line), to balance the groups; a program not listed counts 60.
# "killed" is the killed-machine rounds (measured at 5; weighed by
# PVDISK_KILLED_ROUNDS), which run after the VM of the group they join.
# (One-CPU VMs, KASAN inline, 2026-11-29.)
declare -A test_secs=(
	[blk_env.sh]=15 [pvdisk_smoke.sh]=2 [pvdisk_data.sh]=57
	[pvdisk_flush.sh]=22 [pvdisk_badinput.sh]=23 [pvdisk_errors.sh]=31
	[pvdisk_reload.sh]=21 [pvdisk_tool.sh]=32 [pvdisk_teardown.sh]=25
	[pvdisk_store_model.sh]=19 [pvdisk_store.sh]=79
	[pvdisk_store_cache.sh]=62 [pvdisk_store_admin.sh]=67
	[pvdisk_crash_replay.sh]=30 [pvdisk_snapshot.sh]=26
	[pvdisk_snapshot_stress.sh]=28 [pvdisk_tool_online.sh]=9
	[pvdisk_faults.sh]=70 [pvdisk_guest.sh]=11 [pvdisk_manage.sh]=54
	[pvdisk_live_manage.sh]=21 [pvdisk_fs.sh]=10 [killed]=124
)
# PVDISK_TEST_VMS: how many VMs (default 2). PVDISK_TEST_SMP: vCPUs of
# each (default 1). With two-CPU VMs two were no faster than one on the
# 2-core machine (each program ran about twice as long): a guest's
# second vCPU only pays when the host has a core for it.
nvms=${PVDISK_TEST_VMS:-2}
killed_rounds=${PVDISK_KILLED_ROUNDS:-5}
if [ $# -gt 0 ]; then
	progs=()
	run_killed=0
	for t in "$@"; do
		if [ "$t" = killed ]; then run_killed=1; else progs+=("$t"); fi
	done
	[ $run_killed = 1 ] || killed_rounds=0
else
	mapfile -t progs < <(make -s -C "$repo/tests" list | sed 's/^pvdisk://')
fi
[ "$nvms" -le "${#progs[@]}" ] || nvms=${#progs[@]}
[ "$nvms" -ge 1 ] || nvms=1
smp=${PVDISK_TEST_SMP:-1}
# The VM's limit: the whole suite took 20 min on one 2-core host and
# over 30 on another; CI stops at 90.
vm_timeout=${PVDISK_TEST_VM_TIMEOUT:-3600}

# Longest first, each to the group with the least work so far; blk_env.sh
# (the environment check) goes first in the first group, and the killed
# machines (if they run) count as the work of the group they join. Each
# group then runs its programs in the order given, then the killed
# machines if it has them.
# secs_of T: the weight of program T (or "killed") in the split
secs_of() {
	if [ "$1" = killed ]; then echo $(( test_secs[killed] * killed_rounds / 5 ))
	else echo "${test_secs[$1]:-60}"; fi
}
split_tests() {
	local t g best i
	local -a load order
	for ((g = 0; g < nvms; g++)); do load[g]=0; group[g]=; done
	mapfile -t order < <({
		printf '%s\n' "${progs[@]}"
		[ "$killed_rounds" = 0 ] || echo killed
	} | while read -r t; do
		if [ "$t" = blk_env.sh ]; then echo "999999 $t"
		else echo "$(secs_of "$t") $t"; fi
	done | sort -s -k1,1nr | cut -d' ' -f2)
	declare -A in_group=()
	for t in "${order[@]}"; do
		best=0
		for ((g = 1; g < nvms; g++)); do
			[ "${load[g]}" -lt "${load[best]}" ] && best=$g
		done
		[ "$t" = blk_env.sh ] && best=0
		in_group[$t]=$best
		load[best]=$(( load[best] + $(secs_of "$t") ))
	done
	for t in "${progs[@]}"; do
		i=${in_group[$t]}
		group[i]="${group[i]:+${group[i]} }$t"
	done
	killed_group=${in_group[killed]:--1}
}
group=()
killed_group=-1
[ ${#progs[@]} -gt 0 ] && split_tests

vmlog=()
vmpid=()
vm_timings=()
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT
# Each VM writes its output to a file of its own and, when it is done, its
# exit status and time to "<log>.done" (mark_done). The output is shown
# one VM after the other, each as it comes (the first VM's live, the next
# one's from the start once the first is done), so the TAP of a VM stays
# together.
follow() {
	local log=$1 off=0 size fin
	while :; do
		fin=0
		[ -s "$log.done" ] && fin=1
		size=$(stat -c %s "$log")
		if [ "$size" -gt "$off" ]; then
			tail -c +$((off + 1)) "$log" | head -c $((size - off))
			off=$size
		fi
		[ $fin = 1 ] && return 0
		sleep 1
	done
}
# mark_done LOG RC START: the run whose output is LOG ended with status
# RC, having started at START (date +%s); "LOG.done" appears whole, as
# follow() expects.
mark_done() {
	echo "$2 $(( $(date +%s) - $3 ))" >"$1.tmp"
	mv "$1.tmp" "$1.done"
}
# The killed machines' output, and when they are done their exit status
# and time in "<log>.done".
killed_log=$tmpdir/killed.log
: >"$killed_log"
run_killed() {
	local start rc=0
	start=$(date +%s)
	"$here/killed.sh" --rounds "$killed_rounds" >"$killed_log" 2>&1 </dev/null || rc=$?
	mark_done "$killed_log" "$rc" "$start"
}
run_vms() {
	local g rc=0 vrc secs
	for ((g = 0; g < nvms; g++)); do
		vmlog[g]=$tmpdir/vm$((g + 1)).log
		: >"${vmlog[g]}"
		# A group of the killed machines alone boots no kselftest VM.
		# shellcheck disable=SC2086
		(
			if [ -n "${group[g]}" ]; then
				start=$(date +%s)
				vrc=0
				"$here/vm.sh" --smp "$smp" --label "vm$((g + 1))" \
					--timeout "$vm_timeout" -- \
					/tests/run_kselftest.sh ${group[g]} || vrc=$?
				mark_done "${vmlog[g]}" "$vrc" "$start"
			fi
			[ "$g" != "$killed_group" ] || run_killed
		) >"${vmlog[g]}" 2>&1 </dev/null &
		vmpid[g]=$!
	done
	for ((g = 0; g < nvms; g++)); do
		[ -n "${group[g]}" ] || continue
		echo "==== VM $((g + 1)) of $nvms: ${group[g]}"
		follow "${vmlog[g]}"
		read -r vrc secs <"${vmlog[g]}.done"
		vm_timings+=("$(printf '  %-20s %5ss%s' "VM $((g + 1)) (${smp} CPU)" "$secs" \
			"$([ "$vrc" = 0 ] || echo "  FAILED (exit $vrc)")")")
		[ "$vrc" = 0 ] || rc=$vrc
	done
	return $rc
}
vm_rc=0
if [ ${#progs[@]} -gt 0 ]; then
	phase "VM kselftests" run_vms || vm_rc=$?
	timings+=("${vm_timings[@]}")
fi

# ---- killed machines: after the VM of their group (or alone) -------------
killed_secs=
show_killed() {
	local krc
	[ "$killed_group" -ge 0 ] || run_killed &
	follow "$killed_log"
	read -r krc killed_secs <"$killed_log.done"
	return "$krc"
}
killed_rc=0
if [ "$killed_rounds" -gt 0 ]; then
	# Beside a VM, the phase is only the wait after that VM's output.
	phase "killed machines" show_killed || killed_rc=$?
	timings+=("$(printf '  %-20s %5ss' "rounds ($killed_rounds)" "$killed_secs")")
fi
# (Not a bare `wait`: that would reap cargo test too.)
[ ${#vmpid[@]} = 0 ] || wait "${vmpid[@]}" 2>/dev/null || true
if ! phase "cargo test (rest)" tool_test_wait; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("cargo test failed")
fi

# Count the cases: the subtests each test script reports ("# ok N ...",
# "# not ok N ..."), plus a failure for a test that failed without a
# failing case (crash, timeout, kernel warning) and a skip for a test that
# skipped as a whole. Each VM's log is a TAP stream of its own.
pass=0 fail=0 skip=0 tests=0 tfail=0
ran_vms=$nvms
[ ${#progs[@]} -gt 0 ] || ran_vms=0
for ((g = 0; g < ran_vms; g++)); do
	[ -n "${group[g]}" ] || continue
	log=${vmlog[g]}
	read -r vrc _ <"$log.done"
	read -r p f s t tf plan < <(awk '
		/^1\.\.[0-9]+$/ && !plan { plan = substr($0, 4) + 0; next }
		/^# selftests: pvdisk: / { subfail = 0; subs = 0; next }
		/^# ok [0-9]+ / { subs++; if ($0 ~ /# SKIP/) skip++; else pass++; next }
		/^# not ok [0-9]+ / { subs++; subfail++; fail++; next }
		/^ok [0-9]+ selftests: / { tests++; if ($0 ~ /# SKIP/ && subs == 0) skip++; next }
		/^not ok [0-9]+ selftests: / { tests++; tfail++; if (subfail == 0) fail++; next }
		END { printf "%d %d %d %d %d %d\n", pass, fail, skip, tests, tfail, plan }
	' "$log")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	tests=$((tests + t)) tfail=$((tfail + tf))
	vm="VM $((g + 1))"
	[ "$plan" -gt 0 ] || plan=$(wc -w <<<"${group[g]}")
	if [ "$t" -lt "$plan" ]; then
		extra_fail=$((extra_fail + plan - t))
		extra_notes+=("$vm: $((plan - t)) of $plan test programs did not run or finish")
	fi
	if ! grep -q '^PVDISK-RESULT: rc=' "$log"; then
		extra_fail=$((extra_fail + 1))
		extra_notes+=("$vm did not finish (vm.sh exit $vrc)")
	elif grep -q '^vm: FAIL: the kernel log has warnings' "$log" ||
		{ [ "$vrc" != 0 ] && [ "$tf" = 0 ]; }; then
		extra_fail=$((extra_fail + 1))
		extra_notes+=("$vm: kernel warnings in the VM log (vm.sh exit $vrc)")
	fi
done
if [ "$tests" = 0 ] && [ ${#progs[@]} -gt 0 ]; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("no kselftest ran")
fi
# Each killed-machine round is a case: passed or failed.
if [ "$killed_rounds" -gt 0 ]; then
	read -r kp kf < <(sed -n 's/^killed: rounds passed \([0-9]*\), failed \([0-9]*\)$/\1 \2/p' \
		"$killed_log" | tail -n 1)
	if [ -z "${kp:-}" ]; then
		extra_fail=$((extra_fail + 1))
		extra_notes+=("killed machines: no result (killed.sh exit $killed_rc)")
	else
		pass=$((pass + kp)) fail=$((fail + kf))
		tests=$((tests + 1))
		if [ "$killed_rc" != 0 ]; then
			tfail=$((tfail + 1))
			[ "$kf" -gt 0 ] || {
				extra_fail=$((extra_fail + 1))
				extra_notes+=("killed machines failed (exit $killed_rc)")
			}
		fi
	fi
fi
fail=$((fail + extra_fail))

print_timings
echo "==== summary"
echo "kselftest programs: $tests, failed: $tfail"
for n in "${extra_notes[@]}"; do echo "FAIL: $n"; done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$vm_rc" = 0 ] && [ "$killed_rc" = 0 ]
