//! `ros-e2e`: boots the OS in QEMU and checks what it does.
//!
//! [`qemu`] builds the command lines (shared with `cargo xtask run`); [`TestVm`] starts a guest
//! with its serial console on a socket, waits for marker lines (never sleeps), powers off over
//! QMP and keeps the console log of a failing test. Every console is scanned for kernel panics,
//! Oops and BUG lines, which fail the test. The boot tests themselves sit behind the `e2e`
//! feature and run from `cargo xtask e2e`.

pub mod config_drive;
pub mod console;
pub mod qemu;
mod qmp;
pub mod ssh;
mod vm;

pub use console::{KernelTrouble, kernel_trouble};
pub use qemu::{Accel, BootSource, Firmware, QemuConfig, Serial};
pub use vm::{Artefacts, TestVm, TestVmBuilder};
