# SPDX-License-Identifier: GPL-2.0
# Sourced into the benchmark guests (scripts/bench.sh, bench-ab.sh), not
# run on its own.
#
# pin_placement [off]: the disks' interrupts to the last CPU, and FIO_PIN
# set to fio's option that keeps it on CPU 0; with "off" (or one CPU),
# FIO_PIN is empty and the kernel places both.
#
# Why: the test kernel has no MSI, so every virtio disk interrupts on one
# INTx line, which lands on one CPU. Left to the scheduler, fio ran on
# that CPU in some slices and on the other in the next: on it, a slice
# of 4 KiB random I/O ran 20-40% slower, on the raw disk and on every
# target alike (Documentation/testing.rst). Fixed, every target gets the
# same placement; the paired run's spread has other causes too.
pin_placement() {
	local last irq
	FIO_PIN=
	last=$(($(grep -c '^processor' /proc/cpuinfo) - 1))
	[ "${1:-}" != off ] && [ "$last" -gt 0 ] || return 0
	for irq in $(awk '/virtio/ { sub(":", "", $1); print $1 }' /proc/interrupts); do
		echo "$last" > "/proc/irq/$irq/smp_affinity_list" || {
			echo "bench: cannot move IRQ $irq to CPU $last; fio not pinned"
			return 1
		}
	done
	FIO_PIN=--cpus_allowed=0
	echo "bench: fio on CPU 0, the disks' interrupts on CPU $last"
}
