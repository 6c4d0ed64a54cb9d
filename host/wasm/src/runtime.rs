//! The engine, the linker, and plugin calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{ComponentNamedList, InstancePre, Lift, Linker, Lower};
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};

use crate::cache::{ComponentCache, LoadOrigin};
use crate::sandbox::{CallLimits, Sandbox, StoreState};

/// How often the epoch advances: the resolution of plugin deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the WebAssembly engine could not start: {0}")]
    Engine(String),
    #[error("not a usable plugin component: {0}")]
    Component(String),
}

/// Why a plugin call did not return normally.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("the plugin ran longer than its limit of {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the plugin tried to use more than its limit of {0} bytes of memory and was stopped")]
    MemoryLimit(usize),
    #[error("the plugin crashed: {0}")]
    Trap(String),
    #[error("the plugin has no export {0:?}")]
    MissingExport(String),
    #[error("the plugin could not start: {0}")]
    Instantiate(String),
    #[error("the build was cancelled")]
    Cancelled,
}

/// One engine and linker for the process, and the compiled-component cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    cache: ComponentCache,
    ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// Starts the engine (and the thread that advances its epoch) with a cache directory.
    pub fn new(cache_dir: PathBuf) -> Result<Runtime, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        crate::imports::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;
        let running = Arc::new(AtomicBool::new(true));
        let weak_engine = engine.weak();
        let ticking = Arc::clone(&running);
        std::thread::Builder::new()
            .name("kiln-wasm-epoch".into())
            .spawn(move || {
                while ticking.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| LoadError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Runtime {
            engine,
            linker,
            cache: ComponentCache::new(cache_dir),
            ticker: running,
        })
    }

    pub fn cache(&self) -> &ComponentCache {
        &self.cache
    }

    /// Compiles (or fetches from the cache) and pre-links a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let (component, sha256, origin) = self
            .cache
            .load(&self.engine, bytes)
            .map_err(|e| LoadError::Component(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Component(format!("{e:#}")))?;
        tracing::debug!(%sha256, ?origin, "component loaded");
        Ok(Plugin {
            pre,
            sha256,
            origin,
        })
    }

    /// A fresh instance in a fresh store, under `sandbox`. The deadline starts now and covers
    /// instantiation and every call made through the returned [`PluginCall`].
    pub async fn instantiate(
        &self,
        plugin: &Plugin,
        sandbox: Sandbox,
    ) -> Result<PluginCall, CallError> {
        let limits = sandbox.limits;
        let state = sandbox
            .store_state()
            .map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Every tick the plugin yields to the executor, so a caller that stops waiting (a
        // template `timeout`, Ctrl-C) can drop the call even while the plugin spins; past the
        // wall-clock limit, or once the build is cancelled, the plugin traps.
        let deadline = Instant::now() + limits.wall_time;
        store.epoch_deadline_callback(move |ctx| {
            let cancelled = ctx
                .data()
                .caps
                .as_ref()
                .is_some_and(|c| c.cancel.is_cancelled());
            if cancelled || Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        match plugin.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok(PluginCall {
                store,
                instance,
                limits,
            }),
            Err(e) => Err(classify(e, &store, limits, |e| {
                CallError::Instantiate(format!("{e:#}"))
            })),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

/// A loaded component, ready to instantiate many times.
pub struct Plugin {
    pre: InstancePre<StoreState>,
    sha256: String,
    origin: LoadOrigin,
}

impl Plugin {
    /// The sha256 of the component's bytes: how policy and lockfiles name it.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn origin(&self) -> LoadOrigin {
        self.origin
    }
}

/// One live instance; dropped at the end of the call, taking its store with it.
pub struct PluginCall {
    store: Store<StoreState>,
    instance: wasmtime::component::Instance,
    limits: CallLimits,
}

impl PluginCall {
    pub(crate) fn parts(&mut self) -> (&mut Store<StoreState>, &wasmtime::component::Instance) {
        (&mut self.store, &self.instance)
    }

    pub(crate) fn store(&mut self) -> &mut Store<StoreState> {
        &mut self.store
    }

    /// Names the limit a failed typed call hit, when it hit one.
    pub(crate) fn classify(&self, error: wasmtime::Error) -> CallError {
        classify(error, &self.store, self.limits, |e| {
            CallError::Trap(format!("{e:#}"))
        })
    }

    /// Calls a top-level exported function by name with typed parameters and results.
    pub async fn call<P, R>(&mut self, name: &str, params: P) -> Result<R, CallError>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let func = self
            .instance
            .get_typed_func::<P, R>(&mut self.store, name)
            .map_err(|_| CallError::MissingExport(name.to_owned()))?;
        match func.call_async(&mut self.store, params).await {
            Ok(result) => Ok(result),
            Err(e) => Err(classify(e, &self.store, self.limits, |e| {
                CallError::Trap(format!("{e:#}"))
            })),
        }
    }
}

/// Names the limit a failure came from, when it came from one.
fn classify(
    error: wasmtime::Error,
    store: &Store<StoreState>,
    limits: CallLimits,
    other: impl FnOnce(wasmtime::Error) -> CallError,
) -> CallError {
    if store.data().limiter.exceeded {
        return CallError::MemoryLimit(limits.memory_bytes);
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        let cancelled = store
            .data()
            .caps
            .as_ref()
            .is_some_and(|c| c.cancel.is_cancelled());
        return if cancelled {
            CallError::Cancelled
        } else {
            CallError::Timeout(limits.wall_time)
        };
    }
    other(error)
}
