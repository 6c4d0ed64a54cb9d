//! The QEMU driver against real QEMU, under TCG (guests hang under this host's KVM, and TCG is
//! the slow case the typing must survive). Each test skips, saying why, when QEMU is missing,
//! and fails instead when `KILN_REQUIRE_QEMU=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod disk;
mod machine;
mod support;
mod typing;
