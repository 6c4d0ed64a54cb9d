//! Errors: [`RhaiError`] for loading a script, and how a script's runtime error becomes the
//! [`PluginError`] the build reports, located in the file it happened in.

use rhai::EvalAltResult;

use kiln_core::plugin::{ConfigError, PluginError};

use crate::call::CallContext;
use crate::capabilities::CapabilityError;
use crate::diagnostic::{Location, Sources, render};
use crate::limits::Limits;
use crate::values;

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RhaiError {
    /// The template entry names no script.
    #[error("a rhai plugin needs \"script\": the path of a .rhai file, relative to the template")]
    NoScript,
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The script does not parse; the text is the rendered diagnostic
    /// (`provision.rhai:3:9: message`, the line, a caret).
    #[error("{0}")]
    Parse(String),
}

impl From<RhaiError> for PluginError {
    fn from(e: RhaiError) -> Self {
        match e {
            RhaiError::NoScript | RhaiError::Read { .. } => {
                PluginError::InvalidConfig(vec![ConfigError {
                    key: "script".into(),
                    message: e.to_string(),
                }])
            }
            RhaiError::Parse(text) => PluginError::Failed(text),
        }
    }
}

/// Renders a parse error of `file`.
pub(crate) fn parse_error(file: &str, error: rhai::ParseError, sources: &Sources) -> String {
    let rhai::ParseError(kind, position) = error;
    render(
        &Location::new(file, position),
        &kind.to_string(),
        &[],
        sources,
    )
}

/// Calls listed under an error, innermost first; a runaway recursion would list dozens.
const MAX_FRAMES: usize = 8;

/// How a call's runtime error is turned into a [`PluginError`].
pub(crate) struct Failure<'a> {
    pub(crate) ctx: &'a CallContext,
    pub(crate) sources: &'a Sources,
    pub(crate) limits: &'a Limits,
    /// In `prepare`, a thrown string or `#{key, message}` is a config error.
    pub(crate) thrown_is_config: bool,
}

impl Failure<'_> {
    pub(crate) fn convert(&self, error: Box<EvalAltResult>) -> PluginError {
        if self.ctx.is_cancelled() {
            return PluginError::Cancelled;
        }
        // Unwrap calls and imports down to the error itself, noting each frame; the error's
        // position is in the innermost file.
        let mut file = self.ctx.script.clone();
        let mut frames = Vec::new();
        let mut error = error;
        loop {
            match *error {
                EvalAltResult::ErrorInFunctionCall(name, source, inner, position) => {
                    let at = Location::new(file.as_str(), position).label();
                    if name.starts_with("anon$") {
                        frames.push(format!("  in a closure, called at {at}"));
                    } else {
                        frames.push(format!("  in {name}(), called at {at}"));
                    }
                    if !source.is_empty() {
                        file = source;
                    }
                    error = inner;
                }
                EvalAltResult::ErrorInModule(name, inner, position) => {
                    let at = Location::new(file.as_str(), position).label();
                    frames.push(format!("  in module {name}, imported at {at}"));
                    file = name;
                    error = inner;
                }
                _ => break,
            }
        }
        frames.reverse();
        if frames.len() > MAX_FRAMES {
            let more = frames.len() - MAX_FRAMES;
            frames.truncate(MAX_FRAMES);
            frames.push(format!("  ... and {more} more"));
        }
        let mut error = *error;
        let at = Location::new(file, error.take_position());
        let located = |message: &str| render(&at, message, &frames, self.sources);
        let limits = self.limits;
        match error {
            EvalAltResult::ErrorTerminated(..) => {
                PluginError::Timeout(located(&self.ctx.timed_out()))
            }
            EvalAltResult::ErrorRuntime(value, _) if value.is::<CapabilityError>() => {
                match value.cast::<CapabilityError>().0 {
                    PluginError::Denied(t) => PluginError::Denied(located(&t)),
                    PluginError::Timeout(t) => PluginError::Timeout(located(&t)),
                    PluginError::Failed(t) => PluginError::Failed(located(&t)),
                    PluginError::Crashed(t) => PluginError::Crashed(located(&t)),
                    other @ (PluginError::Cancelled | PluginError::InvalidConfig(_)) => other,
                }
            }
            EvalAltResult::ErrorRuntime(value, _) => {
                if self.thrown_is_config
                    && let Some(errors) = values::config_errors_from(&value)
                {
                    return PluginError::InvalidConfig(errors);
                }
                let message = match value.read_lock::<rhai::ImmutableString>() {
                    Some(s) => s.to_string(),
                    None => format!("uncaught exception: {value}"),
                };
                PluginError::Failed(located(&message))
            }
            EvalAltResult::ErrorParsing(kind, _) => PluginError::Failed(located(&kind.to_string())),
            EvalAltResult::ErrorTooManyOperations(_) => PluginError::Crashed(located(&format!(
                "the script ran past its limit of {} operations (a loop that never ends?)",
                limits.max_operations
            ))),
            EvalAltResult::ErrorStackOverflow(_) => PluginError::Crashed(located(&format!(
                "calls nested deeper than the limit of {} (a recursion that never ends?)",
                limits.max_call_levels
            ))),
            EvalAltResult::ErrorDataTooLarge(what, _) => PluginError::Crashed(located(&format!(
                "{what} too large: kiln's limits are {} bytes a string, {} items an array, {} properties a map",
                limits.max_string_size, limits.max_array_size, limits.max_map_size
            ))),
            EvalAltResult::ErrorTooManyModules(_) => PluginError::Crashed(located(&format!(
                "more than {} modules imported",
                limits.max_modules
            ))),
            EvalAltResult::ErrorTooManyVariables(_) => PluginError::Crashed(located(&format!(
                "more than {} variables defined",
                limits.max_variables
            ))),
            other => PluginError::Failed(located(&other.to_string())),
        }
    }
}
