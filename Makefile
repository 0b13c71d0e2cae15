# SPDX-License-Identifier: GPL-2.0
#
# pvdisk: out-of-tree module build and the project's entry points.
# `make help` lists the targets.

REPO := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
KDIR ?= $(shell $(REPO)scripts/kernel.sh --print)
KMAKE = $(MAKE) -C $(KDIR) M=$(REPO) LLVM=1

.PHONY: all modules clippy clean deps kernel tool test demo demo-guest bench help

all: modules

modules: ## Build drivers/block/pvdisk/pvdisk.ko against KDIR
	$(KMAKE) modules

clippy: ## Build the module with clippy lints (make CLIPPY=1)
	$(KMAKE) CLIPPY=1 modules

clean: ## Remove module build products
	$(KMAKE) clean

deps: ## Install toolchain and packages (idempotent)
	$(REPO)scripts/deps.sh

kernel: ## Build the test kernel in the cache (incremental)
	$(REPO)scripts/kernel.sh

tool: ## Build the userspace pvdisk tool
	cd $(REPO)userspace-tools && cargo build --release --locked

test: ## Everything: deps, kernel, module, cargo test, kselftests in the VM
	$(REPO)scripts/test.sh

demo: ## Boot the VM and show /dev/pvdisk0 at work
	$(REPO)scripts/demo.sh

demo-guest: ## A nested QEMU guest on /dev/pvdisk0, snapshotted and cloned while it writes (slow)
	$(REPO)scripts/demo-guest.sh

bench: ## fio in the VM: raw disk vs pvdisk (vs dm-thin)
	$(REPO)scripts/bench.sh

help: ## This list
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 20
	@echo "  KDIR=<dir>          kernel build to build the module against"
