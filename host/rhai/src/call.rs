//! One entry-point call: the thread the script runs on, and the bridge from that thread to
//! kiln's async capabilities.
//!
//! A script runs synchronously, so it gets a thread of its own (with a stack sized for Rhai's
//! recursion, see [`crate::limits::SCRIPT_STACK_SIZE`]); each capability it calls is an async
//! [`Capabilities`] method driven to completion with [`Handle::block_on`], raced against the
//! build's cancellation and the call's deadline. The async side only awaits the thread's
//! answer, so no tokio worker ever blocks.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use kiln_core::capabilities::Capabilities;
use kiln_core::plugin::PluginError;

/// What every function a script calls needs: the build's capabilities and when to stop.
pub(crate) struct CallContext {
    pub(crate) caps: Arc<Capabilities>,
    /// The script's name, for messages.
    pub(crate) script: String,
    handle: Handle,
    /// The build's token's child: cancelled with the build, or when the caller stops waiting.
    cancel: CancellationToken,
    deadline: Option<Instant>,
    time_limit: Option<Duration>,
}

impl CallContext {
    /// Must be called inside the tokio runtime whose capabilities these are.
    pub(crate) fn new(
        caps: Arc<Capabilities>,
        script: String,
        cancel: CancellationToken,
        time_limit: Option<Duration>,
    ) -> Result<Self, PluginError> {
        let handle = Handle::try_current()
            .map_err(|_| PluginError::Crashed("a Rhai plugin was called outside tokio".into()))?;
        Ok(CallContext {
            caps,
            script,
            handle,
            cancel,
            deadline: time_limit.map(|t| Instant::now() + t),
            time_limit,
        })
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The error for a call that ran out of time.
    pub(crate) fn timed_out(&self) -> String {
        match self.time_limit {
            Some(limit) => format!("{} ran past its time limit of {limit:?}", self.script),
            None => format!("{} ran past its time limit", self.script),
        }
    }

    /// Runs one async capability call from the script's thread. Cancellation and the deadline
    /// end the wait (and drop the future, which ends whatever it started).
    pub(crate) fn block_on<T>(
        &self,
        work: impl Future<Output = Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        if self.cancel.is_cancelled() {
            return Err(PluginError::Cancelled);
        }
        self.handle.block_on(async {
            let deadline = async {
                match self.deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => Err(PluginError::Cancelled),
                () = deadline => Err(PluginError::Timeout(self.timed_out())),
                result = work => result,
            }
        })
    }
}

/// Runs `body` on a new script thread and waits for it without blocking the runtime. If the
/// caller stops waiting (its future is dropped), `cancel` is cancelled, so the script stops
/// at its next operation.
pub(crate) async fn on_script_thread<T, F>(
    name: &str,
    cancel: CancellationToken,
    body: F,
) -> Result<T, PluginError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, PluginError> + Send + 'static,
{
    let _stop_when_dropped = cancel.drop_guard();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("rhai {name}"))
        .stack_size(crate::limits::SCRIPT_STACK_SIZE)
        .spawn(move || {
            let _ = tx.send(body());
        })
        .map_err(|e| PluginError::Crashed(format!("cannot start a thread for {name}: {e}")))?;
    rx.await
        .map_err(|_| PluginError::Crashed(format!("{name}: the script's thread panicked")))?
}
