#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The pvdisk test run (`make test`, and what CI runs):
#
#   1. scripts/deps.sh            host packages, rust-src, bindgen
#   2. scripts/kernel.sh          the test kernel (incremental, in the cache)
#   3. make modules               pvdisk.ko against that kernel
#   4. userspace-tools            cargo build --release, cargo test (which
#                                 runs beside step 5)
#   5. scripts/vm.sh              the kselftests (tests/) in a QEMU VM
#
#   scripts/test.sh [TEST...]     TEST: names from tests/Makefile TEST_PROGS
#   scripts/test.sh --build-only  steps 1-4 without cargo test (used by
#                                 demo.sh and bench.sh)
#
# Prints the TAP output of the kselftests and, last, one summary line
# "N passed, N failed, N skipped" counting the kselftest cases (cargo test
# prints its own). Exits non-zero if anything failed: a build, cargo test,
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

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_vm() {
	"$here/vm.sh" -- /tests/run_kselftest.sh "$@" | tee "$log"
	return "${PIPESTATUS[0]}"
}
vm_rc=0
phase "VM kselftests" run_vm "$@" || vm_rc=$?
if ! phase "cargo test (rest)" tool_test_wait; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("cargo test failed")
fi

# Count the cases: the subtests each test script reports ("# ok N ...",
# "# not ok N ..."), plus a failure for a test that failed without a
# failing case (crash, timeout, kernel warning) and a skip for a test that
# skipped as a whole.
read -r pass fail skip tests tfail plan < <(awk '
	/^1\.\.[0-9]+$/ && !plan { plan = substr($0, 4) + 0; next }
	/^# selftests: pvdisk: / { subfail = 0; subs = 0; next }
	/^# ok [0-9]+ / { subs++; if ($0 ~ /# SKIP/) skip++; else pass++; next }
	/^# not ok [0-9]+ / { subs++; subfail++; fail++; next }
	/^ok [0-9]+ selftests: / { tests++; if ($0 ~ /# SKIP/ && subs == 0) skip++; next }
	/^not ok [0-9]+ selftests: / { tests++; tfail++; if (subfail == 0) fail++; next }
	END { printf "%d %d %d %d %d %d\n", pass, fail, skip, tests, tfail, plan }
' "$log")
if [ "$tests" -lt "$plan" ]; then
	extra_fail=$((extra_fail + plan - tests))
	extra_notes+=("$((plan - tests)) of $plan test programs did not run or finish")
fi
if ! grep -q '^PVDISK-RESULT: rc=' "$log"; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("the VM did not finish (vm.sh exit $vm_rc)")
elif grep -q '^vm: FAIL: the kernel log has warnings' "$log" ||
	{ [ "$vm_rc" != 0 ] && [ "$tfail" = 0 ]; }; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("kernel warnings in the VM log (vm.sh exit $vm_rc)")
fi
if [ "$tests" = 0 ]; then
	extra_fail=$((extra_fail + 1))
	extra_notes+=("no kselftest ran")
fi
fail=$((fail + extra_fail))

print_timings
echo "==== summary"
echo "kselftest programs: $tests, failed: $tfail"
for n in "${extra_notes[@]}"; do echo "FAIL: $n"; done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$vm_rc" = 0 ]
