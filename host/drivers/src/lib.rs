//! Hypervisor drivers, owned by the host: plugins describe a machine, the driver runs it.
//!
//! The QEMU driver, one concept per module:
//!
//! - [`boot_command`]: Packer's `boot_command` syntax parsed into [`Action`]s;
//! - [`keys`]: characters and special keys as QEMU key codes (US layout);
//! - [`typing`]: actions sent through QMP `input-send-event` in batches the guest keeps up with;
//! - [`qmp`]: the QMP client (commands matched to replies by id, events apart);
//! - [`qemu`]: [`MachineSpec`] (the JSON a plugin sends, with Packer's defaults), the pure
//!   [`command_line()`], and [`Machine`], the running process with its ports and QMP;
//! - [`disk`]: `qemu-img` (create, overlay, resize, convert, info) and `disk_size` parsing;
//! - [`media`]: the floppy (`floppy_files`, FAT12 written natively) and the CD (`cd_files`, an
//!   ISO from xorriso or another of Packer's tools) made from host files, with Packer's
//!   patterns ([`media::glob`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{sync::Arc, time::Duration};
//! use kiln_drivers::{boot_command, LogObserver, Machine, MachineSpec};
//! use tokio_util::sync::CancellationToken;
//!
//! let spec: MachineSpec = serde_json::from_str(r#"{"headless": true, "disks": ["disk.qcow2"]}"#)?;
//! let machine = Machine::start(spec, Arc::new(LogObserver)).await?;
//! let actions = boot_command::parse("<esc><wait>auto url=http://10.0.2.2:8000/preseed.cfg<enter>")?;
//! machine.send_keys(&actions, Duration::ZERO, &CancellationToken::new()).await?;
//! machine.powerdown().await?;
//! if !machine.wait_stopped(Duration::from_secs(300)).await {
//!     machine.kill().await?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod boot_command;
pub mod disk;
pub mod keys;
pub mod media;
pub mod qemu;
pub mod qmp;
pub mod typing;

pub use boot_command::{Action, ParseError};
pub use disk::{Format, QemuImg, parse_size};
pub use keys::Key;
pub use qemu::{
    Host, LogObserver, Machine, MachineSpec, Observer, Ports, SpecError, command_line, resolve,
};
pub use typing::Pacing;
