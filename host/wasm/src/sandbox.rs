//! What one plugin call may use: memory, time, directories, and where its output goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiln_core::capabilities::Capabilities;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::AsyncStdoutStream;
use wasmtime_wasi::filesystem::FsPerms;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::output::{LineWriter, OutputSink, StreamKind};

/// Resource limits for one plugin call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Linear memory a plugin instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for instantiation and the call together.
    pub wall_time: Duration,
}

impl Default for CallLimits {
    /// Generous for a provisioner or post-processor: a system upgrade over SSH takes long,
    /// and a template's own `timeout` (enforced by the pipeline) is the tighter bound.
    fn default() -> Self {
        CallLimits {
            memory_bytes: 256 << 20,
            wall_time: Duration::from_secs(4 * 3600),
        }
    }
}

/// The grant one call runs under.
#[derive(Clone, Default)]
pub struct Sandbox {
    pub limits: CallLimits,
    /// Host directories visible read-only at the same path (the template's directory).
    pub read_only: Vec<PathBuf>,
    /// Host directories visible read-write at the same path (the build's output directory).
    pub read_write: Vec<PathBuf>,
    /// Where stdout and stderr lines go; discarded when `None`.
    pub output: Option<OutputSink>,
    /// The build's capabilities the plugin's imports call; without them every import traps.
    pub caps: Option<Arc<Capabilities>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("read_only", &self.read_only)
            .field("read_write", &self.read_write)
            .field("output", &self.output.is_some())
            .field(
                "caps",
                &self.caps.as_ref().map(|c| c.grant.plugin.type_name.clone()),
            )
            .finish()
    }
}

/// Per-store state: the WASI context, the resource table, the memory limiter and the
/// capabilities the kiln imports call.
pub struct StoreState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) caps: Option<Arc<Capabilities>>,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Sandbox {
    /// The sandbox a build's grant describes: its readable and writable directories (those
    /// that exist), plugin output to the build's UI, and the capabilities themselves.
    pub fn for_build(caps: Arc<Capabilities>, limits: CallLimits) -> Sandbox {
        let existing = |dirs: &kiln_core::capabilities::Grant, writable: bool| -> Vec<PathBuf> {
            let all: Vec<&std::path::Path> = if writable {
                dirs.writable_dirs().collect()
            } else {
                dirs.read_only.values().map(PathBuf::as_path).collect()
            };
            let mut out: Vec<PathBuf> = all
                .into_iter()
                .filter(|d| d.is_dir())
                .map(PathBuf::from)
                .collect();
            out.dedup();
            out
        };
        let log = caps.log.clone();
        let output: OutputSink =
            Arc::new(move |line: crate::output::OutputLine| log.message(&line.text));
        Sandbox {
            limits,
            read_only: existing(&caps.grant, false),
            read_write: existing(&caps.grant, true),
            output: Some(output),
            caps: Some(caps),
        }
    }

    /// Builds the store state: no environment variables, no arguments, no stdin, no network,
    /// only the granted directories.
    pub(crate) fn store_state(&self) -> wasmtime::Result<StoreState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for dir in &self.read_only {
            wasi.preopened_dir(dir, dir.to_string_lossy(), FsPerms::ReadOnly)?;
        }
        for dir in &self.read_write {
            wasi.preopened_dir(dir, dir.to_string_lossy(), FsPerms::ReadWrite)?;
        }
        if let Some(sink) = &self.output {
            // 64 KiB per write permit: backpressure, never an error when the UI is slow.
            wasi.stdout(AsyncStdoutStream::new(
                64 << 10,
                LineWriter::new(StreamKind::Stdout, Arc::clone(sink)),
            ));
            wasi.stderr(AsyncStdoutStream::new(
                64 << 10,
                LineWriter::new(StreamKind::Stderr, Arc::clone(sink)),
            ));
        }
        Ok(StoreState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: self.limits.memory_bytes,
                exceeded: false,
            },
            caps: self.caps.clone(),
        })
    }
}

/// Refuses memory growth past the cap, and remembers that it did so the error can say why.
pub(crate) struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached",
                self.max_bytes
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
