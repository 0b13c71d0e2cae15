// SPDX-License-Identifier: GPL-2.0

//! The `pvdisk` command.

fn main() {}
