//! How far a script may go. Every limit Rhai has is set: a script is code from a template,
//! and a template may come from anyone, so nothing it does may exhaust the host.

use std::time::Duration;

/// Operations (roughly: expressions and statements evaluated) in one entry-point call.
/// Fifty million is a few seconds of pure computation: far more than any provisioning logic
/// needs, since the real work happens in capabilities (which cost one operation each), and
/// small enough that `loop {}` ends in seconds rather than never.
pub const MAX_OPERATIONS: u64 = 50_000_000;

/// Nested function calls. 64 allows any sane recursion; the script runs on a thread of its own
/// with [`SCRIPT_STACK_SIZE`] bytes of stack, enough for 64 levels of Rhai's tree-walking
/// evaluator even in debug builds, so deep recursion is a script error, never a host crash.
pub const MAX_CALL_LEVELS: usize = 64;

/// Nesting of expressions at the top level of a script and inside functions, checked when
/// parsing. Rhai's parser and evaluator recurse on nesting; these bound that recursion
/// (Rhai's own release-build defaults).
pub const MAX_EXPR_DEPTH: usize = 64;
/// See [`MAX_EXPR_DEPTH`].
pub const MAX_FUNCTION_EXPR_DEPTH: usize = 32;

/// Bytes in one string. 16 MiB holds any command output or rendered file a provisioner
/// handles, while `s += s` in a loop fails long before memory does.
pub const MAX_STRING_SIZE: usize = 16 << 20;

/// Elements in one array. A million file names or lines is beyond any real use; the limit
/// stops a runaway `push` loop at tens of megabytes.
pub const MAX_ARRAY_SIZE: usize = 1_000_000;

/// Properties in one object map. Configs and generated data have tens of keys; 100,000 is
/// generous and still bounds memory.
pub const MAX_MAP_SIZE: usize = 100_000;

/// Modules imported by one call (`import "lib/common" as c;`), counting repeats: bounds
/// import cycles and import-in-a-loop.
pub const MAX_MODULES: usize = 64;

/// Variables alive in one scope at once: bounds `let` in an unrolled or generated script.
pub const MAX_VARIABLES: usize = 10_000;

/// Functions one script or module may define.
pub const MAX_FUNCTIONS: usize = 1_000;

/// Stack of the thread a script runs on. Rhai evaluates by recursion; a stack overflow aborts
/// the whole process rather than failing the script. Recursion through closures, `map` and
/// `Fn.call` to [`MAX_CALL_LEVELS`] fits in 2 MiB in a debug build today; 16 MiB leaves room
/// for deeper native frames in future Rhai versions and costs only address space.
pub const SCRIPT_STACK_SIZE: usize = 16 << 20;

/// The limits one call runs under. [`Limits::default`] is kiln's policy (the constants above,
/// no wall-clock limit); tests and hosts with their own deadlines build their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_modules: usize,
    pub max_variables: usize,
    pub max_functions: usize,
    /// Wall-clock time for one entry-point call, capability calls included (a command it
    /// runs is ended when the time is up). `None`: as long as the build lets it, which is how
    /// Packer treats provisioners without a `timeout`.
    pub time_limit: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: MAX_OPERATIONS,
            max_call_levels: MAX_CALL_LEVELS,
            max_expr_depth: MAX_EXPR_DEPTH,
            max_function_expr_depth: MAX_FUNCTION_EXPR_DEPTH,
            max_string_size: MAX_STRING_SIZE,
            max_array_size: MAX_ARRAY_SIZE,
            max_map_size: MAX_MAP_SIZE,
            max_modules: MAX_MODULES,
            max_variables: MAX_VARIABLES,
            max_functions: MAX_FUNCTIONS,
            time_limit: None,
        }
    }
}
