//! The engine a script runs in: every limit set, `eval` gone, imports only from the template's
//! directory, `print` and `debug` to the build's log, and a stop at the next operation once
//! the build is cancelled or the call's time is up.
//!
//! One engine per call, not per build: the callbacks that route `print` and watch for
//! cancellation (`on_print`, `on_progress`) receive no per-call context, so they are bound to
//! the call's capabilities when the engine is made. That is cheap: the standard library is
//! built once per process and shared, and registering the script API is a few dozen map
//! inserts. A whole call of an empty entry point (thread, engine, call) takes about 0.1 ms in
//! a release build, nothing beside the commands a plugin runs.

use std::sync::{Arc, LazyLock};

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, Module};

use crate::call::CallContext;
use crate::diagnostic::Sources;
use crate::limits::Limits;
use crate::modules::TemplateModules;

/// Rhai's standard library (strings, arrays, maps, maths), built once.
static STANDARD: LazyLock<Arc<Module>> =
    LazyLock::new(|| StandardPackage::new().as_shared_module());

/// How often, in operations, the wall clock is read; the cancel token (an atomic load) is
/// checked on every operation.
const CLOCK_EVERY: u64 = 1024;

/// The engine scripts are compiled with: the language and its limits, no capabilities.
pub(crate) fn compiler(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(STANDARD.clone());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions);
    // `eval` would run text no one reviewed and that error messages cannot quote.
    engine.disable_symbol("eval");
    // Without a host, print and debug go nowhere (never to kiln's own stdout).
    engine.on_print(|_| {}).on_debug(|_, _, _| {});
    engine
}

/// The engine one call runs in.
pub(crate) fn engine(
    limits: &Limits,
    ctx: &Arc<CallContext>,
    sources: &Arc<Sources>,
    config: Dynamic,
    build: Dynamic,
) -> Engine {
    let mut engine = compiler(limits);
    engine.set_module_resolver(TemplateModules::new(
        &ctx.caps.build.template_dir,
        Arc::clone(sources),
    ));

    let log = ctx.caps.log.clone();
    engine.on_print(move |text| log.message(text));
    let log = ctx.caps.log.clone();
    engine.on_debug(move |text, source, position| {
        let place = match (source, position.line()) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (None, Some(line)) => format!("line {line}: "),
            _ => String::new(),
        };
        log.debug(&format!("{place}{text}"));
    });

    let watch = Arc::clone(ctx);
    engine.on_progress(move |operations| {
        if watch.is_cancelled() || (operations % CLOCK_EVERY == 0 && watch.past_deadline()) {
            // The token's value does not matter: the caller asks the context why it stopped.
            Some(Dynamic::UNIT)
        } else {
            None
        }
    });

    // `config` and `build` are read-only variables visible everywhere, inside functions too
    // (Rhai functions cannot see the script's top-level variables). A script's own variable
    // of the same name shadows them.
    #[allow(deprecated)] // `on_var` is marked volatile in Rhai 1.x, not deprecated
    engine.on_var(move |name, index, context| {
        if index > 0 || context.scope().contains(name) {
            return Ok(None);
        }
        Ok(match name {
            "config" => Some(config.clone()),
            "build" => Some(build.clone()),
            _ => None,
        })
    });

    crate::capabilities::register(&mut engine, ctx);
    engine
}
