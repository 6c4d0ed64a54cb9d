//! The functions a script calls, each a thin conversion around one [`Capabilities`] method (the
//! same methods `kiln-wasm`'s imports call, so the same grant checks apply). Nothing here
//! touches the filesystem or starts a process itself.
//!
//! A capability that fails raises a Rhai runtime error whose value is a [`CapabilityError`]:
//! a script can `try { ... } catch (e) { ... }` it and read `e.error` (`denied`, `failed`,
//! `timeout`, `cancelled`, ...) and `e.message`; uncaught, it becomes the plugin's error of
//! the same kind.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, Position};

use kiln_core::capabilities::LocalCommand;
use kiln_core::plugin::PluginError;
use kiln_core::session::{Exit, RemoteCommand, Session};

use crate::call::CallContext;
use crate::values;

/// A failed capability call, as the script sees it.
#[derive(Clone, Debug)]
pub(crate) struct CapabilityError(pub(crate) PluginError);

impl CapabilityError {
    /// The WIT contract's name for the kind of error.
    fn kind(&self) -> &'static str {
        match self.0 {
            PluginError::InvalidConfig(_) => "invalid-config",
            PluginError::Denied(_) => "denied",
            PluginError::Timeout(_) => "timeout",
            PluginError::Cancelled => "cancelled",
            PluginError::Failed(_) => "failed",
            PluginError::Crashed(_) => "crashed",
        }
    }

    fn message(&self) -> String {
        match &self.0 {
            PluginError::Denied(t)
            | PluginError::Timeout(t)
            | PluginError::Failed(t)
            | PluginError::Crashed(t) => t.clone(),
            other => other.to_string(),
        }
    }
}

/// A capability's error as a Rhai error; Rhai fills in the position of the call.
fn raise(error: PluginError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(CapabilityError(error)), Position::NONE).into()
}

/// A bad argument (a number where a string belongs): a failed call, not a thrown value, so
/// `prepare` never mistakes it for a config error.
fn bad_argument(function: &str, text: String) -> Box<EvalAltResult> {
    raise(PluginError::Failed(format!("{function}: {text}")))
}

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The session a provisioner is handed or a builder opened: `session.exec(...)` and friends.
#[derive(Clone)]
pub(crate) struct ScriptSession(pub(crate) Arc<dyn Session>);

/// The builder's view of the rest of the build: `hooks.connect(...)`, `hooks.provision(...)`.
#[derive(Clone)]
pub(crate) struct Hooks;

/// What `session.exec` returns when the connection dropped while the command ran (a reboot).
/// Exit statuses are never negative, so this cannot be mistaken for one.
pub const DISCONNECTED: INT = -1;

/// Registers every function of the script API on `engine`, bound to one call.
pub(crate) fn register(engine: &mut Engine, ctx: &Arc<CallContext>) {
    register_errors(engine);
    register_log(engine, ctx);
    register_host(engine, ctx);
    register_session(engine, ctx);
    register_hooks(engine, ctx);
}

fn register_errors(engine: &mut Engine) {
    engine
        .register_type_with_name::<CapabilityError>("CapabilityError")
        .register_get("error", |e: &mut CapabilityError| -> ImmutableString {
            e.kind().into()
        })
        .register_get("message", |e: &mut CapabilityError| -> ImmutableString {
            e.message().into()
        })
        .register_fn("to_string", |e: &mut CapabilityError| e.0.to_string())
        .register_fn("to_debug", |e: &mut CapabilityError| {
            format!("CapabilityError({}: {})", e.kind(), e.message())
        });
}

/// Text for the UI: strings as they are, anything else as Rhai prints it.
fn text(value: &Dynamic) -> String {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return s.to_string();
    }
    if let Some(e) = value.read_lock::<CapabilityError>() {
        return e.0.to_string();
    }
    value.to_string()
}

fn register_log(engine: &mut Engine, ctx: &Arc<CallContext>) {
    let c = Arc::clone(ctx);
    engine.register_fn("say", move |t: Dynamic| c.caps.log.say(&text(&t)));
    let c = Arc::clone(ctx);
    engine.register_fn("message", move |t: Dynamic| c.caps.log.message(&text(&t)));
    let c = Arc::clone(ctx);
    engine.register_fn("error", move |t: Dynamic| c.caps.log.error(&text(&t)));
    // `ask` waits on the terminal; the script's own thread is the right place to wait.
    let c = Arc::clone(ctx);
    engine.register_fn("ask", move |question: &str| -> Dynamic {
        match c.caps.log.ask(question) {
            Some(answer) => answer.into(),
            None => Dynamic::UNIT,
        }
    });
    // `print` and `debug` are Rhai built-ins; the engine's callbacks route them (see sandbox).
}

/// Options of `local_exec(argv, #{env: #{...}, cwd: "..."})`.
fn local_command(ctx: &CallContext, argv: &Array, options: &Map) -> Result<LocalCommand> {
    let argv = values::string_list(&Dynamic::from_array(argv.clone()), "argv")
        .map_err(|t| bad_argument("local_exec", t))?;
    let mut command = LocalCommand {
        argv,
        ..LocalCommand::default()
    };
    for (key, value) in options {
        match key.as_str() {
            "env" => {
                command.env = values::string_pairs(value, "env")
                    .map_err(|t| bad_argument("local_exec", t))?;
            }
            "cwd" => {
                let cwd = value.read_lock::<ImmutableString>().ok_or_else(|| {
                    bad_argument(
                        "local_exec",
                        format!("cwd must be a string, not {}", values::describe_type(value)),
                    )
                })?;
                command.cwd = Some(ctx.caps.resolve(&cwd));
            }
            other => {
                return Err(bad_argument(
                    "local_exec",
                    format!("unknown option `{other}`; the options are env and cwd"),
                ));
            }
        }
    }
    Ok(command)
}

fn register_host(engine: &mut Engine, ctx: &Arc<CallContext>) {
    let c = Arc::clone(ctx);
    engine.register_fn("local_exec", move |argv: Array| -> Result<INT> {
        let command = local_command(&c, &argv, &Map::new())?;
        c.block_on(c.caps.local_exec(command))
            .map(INT::from)
            .map_err(raise)
    });
    let c = Arc::clone(ctx);
    engine.register_fn(
        "local_exec",
        move |argv: Array, options: Map| -> Result<INT> {
            let command = local_command(&c, &argv, &options)?;
            c.block_on(c.caps.local_exec(command))
                .map(INT::from)
                .map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn(
        "digest",
        move |path: &str, algorithm: &str| -> Result<String> {
            c.block_on(c.caps.digest(path, algorithm)).map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn("register_artifact", move |path: &str| -> Result<()> {
        c.caps.register_artifact(path).map_err(raise)
    });
    let c = Arc::clone(ctx);
    engine.register_fn("render", move |template: &str| -> Result<String> {
        c.caps.render(template, &[]).map_err(raise)
    });
    let c = Arc::clone(ctx);
    engine.register_fn(
        "render",
        move |template: &str, data: Map| -> Result<String> {
            let data = values::string_pairs(&Dynamic::from_map(data), "data")
                .map_err(|t| bad_argument("render", t))?;
            c.caps.render(template, &data).map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn("temporary_public_key", move || -> Result<String> {
        c.caps.temporary_public_key().map_err(raise)
    });
}

/// Options of `session.exec(line, #{env: #{...}, stdin: "..."})`.
fn remote_command(line: &str, options: &Map, function: &str) -> Result<RemoteCommand> {
    let mut command = RemoteCommand {
        line: line.to_owned(),
        ..RemoteCommand::default()
    };
    for (key, value) in options {
        match key.as_str() {
            "env" => {
                command.env =
                    values::string_pairs(value, "env").map_err(|t| bad_argument(function, t))?;
            }
            "stdin" => {
                let stdin = value.read_lock::<ImmutableString>().ok_or_else(|| {
                    bad_argument(
                        function,
                        format!(
                            "stdin must be a string, not {}",
                            values::describe_type(value)
                        ),
                    )
                })?;
                command.stdin = Some(stdin.as_bytes().to_vec());
            }
            other => {
                return Err(bad_argument(
                    function,
                    format!("unknown option `{other}`; the options are env and stdin"),
                ));
            }
        }
    }
    Ok(command)
}

fn exit_code(exit: Exit) -> INT {
    match exit {
        Exit::Status(s) => INT::from(s),
        Exit::Disconnected => DISCONNECTED,
    }
}

fn exec(ctx: &CallContext, session: &ScriptSession, command: &RemoteCommand) -> Result<INT> {
    let log = ctx.caps.log.clone();
    let sink = move |line: &str, _stderr: bool| log.message(line);
    ctx.block_on(session.0.exec(command, &sink))
        .map(exit_code)
        .map_err(raise)
}

fn exec_captured(
    ctx: &CallContext,
    session: &ScriptSession,
    command: &RemoteCommand,
) -> Result<Map> {
    let captured = ctx
        .block_on(session.0.exec_captured(command))
        .map_err(raise)?;
    let mut map = Map::new();
    map.insert("status".into(), exit_code(captured.exit).into());
    map.insert(
        "stdout".into(),
        String::from_utf8_lossy(&captured.stdout)
            .into_owned()
            .into(),
    );
    map.insert(
        "stderr".into(),
        String::from_utf8_lossy(&captured.stderr)
            .into_owned()
            .into(),
    );
    Ok(map)
}

fn register_session(engine: &mut Engine, ctx: &Arc<CallContext>) {
    engine
        .register_type_with_name::<ScriptSession>("Session")
        .register_fn("kind", |s: &mut ScriptSession| -> ImmutableString {
            s.0.kind().into()
        })
        .register_fn("to_string", |s: &mut ScriptSession| {
            format!("Session({})", s.0.kind())
        });
    let c = Arc::clone(ctx);
    engine.register_fn("exec", move |s: &mut ScriptSession, line: &str| {
        exec(&c, s, &remote_command(line, &Map::new(), "exec")?)
    });
    let c = Arc::clone(ctx);
    engine.register_fn(
        "exec",
        move |s: &mut ScriptSession, line: &str, options: Map| {
            exec(&c, s, &remote_command(line, &options, "exec")?)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn("exec_captured", move |s: &mut ScriptSession, line: &str| {
        exec_captured(&c, s, &remote_command(line, &Map::new(), "exec_captured")?)
    });
    let c = Arc::clone(ctx);
    engine.register_fn(
        "exec_captured",
        move |s: &mut ScriptSession, line: &str, options: Map| {
            exec_captured(&c, s, &remote_command(line, &options, "exec_captured")?)
        },
    );
    // Transfers go through `Capabilities`, which checks the host path against the grant.
    let c = Arc::clone(ctx);
    engine.register_fn(
        "upload",
        move |s: &mut ScriptSession, host_path: &str, remote_path: &str| -> Result<()> {
            c.block_on(c.caps.upload(&*s.0, host_path, remote_path))
                .map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn(
        "upload_content",
        move |s: &mut ScriptSession, content: &str, remote_path: &str, mode: INT| -> Result<()> {
            let mode = values::int_in::<u32>(mode, "mode")
                .map_err(|t| bad_argument("upload_content", t))?;
            c.block_on(s.0.upload_content(content.as_bytes(), remote_path, mode))
                .map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn(
        "download",
        move |s: &mut ScriptSession, remote_path: &str, host_path: &str| -> Result<()> {
            c.block_on(c.caps.download(&*s.0, remote_path, host_path))
                .map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn("reconnect", move |s: &mut ScriptSession| -> Result<()> {
        c.block_on(s.0.reconnect()).map_err(raise)
    });
}

/// `hooks.connect(options)` / `hooks.connect(options, host, port)`.
fn connect(ctx: &CallContext, options: &Map, host: &str, port: INT) -> Result<ScriptSession> {
    let json = values::to_json(&Dynamic::from_map(options.clone()), "options")
        .map_err(|t| bad_argument("connect", t))?;
    let port = values::int_in::<u16>(port, "port").map_err(|t| bad_argument("connect", t))?;
    ctx.block_on(ctx.caps.connect(&json.to_string(), host, port))
        .map(ScriptSession)
        .map_err(raise)
}

fn register_hooks(engine: &mut Engine, ctx: &Arc<CallContext>) {
    engine.register_type_with_name::<Hooks>("Hooks");
    let c = Arc::clone(ctx);
    engine.register_fn("connect", move |_: &mut Hooks, options: Map| {
        connect(&c, &options, "", 0)
    });
    let c = Arc::clone(ctx);
    engine.register_fn(
        "connect",
        move |_: &mut Hooks, options: Map, host: &str, port: INT| connect(&c, &options, host, port),
    );
    let c = Arc::clone(ctx);
    engine.register_fn(
        "provision",
        move |_: &mut Hooks, session: ScriptSession| -> Result<()> {
            c.block_on(c.caps.provision(session.0, &[])).map_err(raise)
        },
    );
    let c = Arc::clone(ctx);
    engine.register_fn(
        "provision",
        move |_: &mut Hooks, session: ScriptSession, data: Map| -> Result<()> {
            let data: Vec<(String, String)> = data
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            c.block_on(c.caps.provision(session.0, &data))
                .map_err(raise)
        },
    );
}
