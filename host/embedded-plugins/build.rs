#![allow(
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a build script reports to cargo on stdout and fails by panicking"
)]

//! Builds the plugins workspace (`plugins/`) for wasm32-wasip2 with a nested cargo, then
//! writes `plugins.rs` for `lib.rs` to include: every first-party component (`plugins/<kind>-
//! <name>`) embedded with `include_bytes!`, and the directory the test plugins
//! (`plugins/test/<kind>-<name>`) are copied to as `kiln-<kind>-<name>.wasm`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::{env, fs};

const TARGET: &str = "wasm32-wasip2";
const KINDS: [(&str, &str); 3] = [
    ("builder", "Builder"),
    ("provisioner", "Provisioner"),
    ("post-processor", "PostProcessor"),
];

/// Variables of the outer cargo that would change or break the nested build: flags and
/// wrappers meant for the host build (clippy's driver among them), its target and target dir,
/// and its jobserver.
const OUTER_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    "CARGO_PROFILE_RELEASE_LTO",
    "CARGO_PROFILE_RELEASE_STRIP",
    "CARGO_INCREMENTAL",
    "__CARGO_FIX_PLZ",
];

struct Crate {
    kind: &'static str,
    variant: &'static str,
    name: String,
    /// `kiln_builder_null`: the cdylib's file stem.
    lib_name: String,
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("host/embedded-plugins sits two levels below the repository root")
        .to_path_buf();
    let plugins = root.join("plugins");
    let target_dir = root.join("target").join("wasm-plugins");
    let test_plugin_dir = target_dir.join("test-plugins");

    for path in [
        plugins.clone(),
        root.join("guest-sdk/src"),
        root.join("guest-sdk/wit"),
        root.join("guest-sdk/Cargo.toml"),
        // The Go-duration parser the SDK shares with the template language.
        root.join("guest-sdk/go-duration"),
        // The SDK inherits its package fields and dependency versions from the root workspace.
        root.join("Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    let first_party = plugin_crates(&plugins, "kiln");
    let tests = plugin_crates(&plugins.join("test"), "kiln_test");

    check_target_installed();
    build(&plugins, &target_dir);

    let out = target_dir.join(TARGET).join("release");
    let mut source = String::from("pub(crate) static ALL: &[EmbeddedPlugin] = &[\n");
    for c in &first_party {
        let wasm = out.join(format!("{}.wasm", c.lib_name));
        if !wasm.is_file() {
            panic!("the plugins build did not produce {}", wasm.display());
        }
        writeln!(
            source,
            "    EmbeddedPlugin {{ kind: Kind::{}, name: {:?}, bytes: include_bytes!({:?}) }},",
            c.variant,
            c.name,
            wasm.display().to_string()
        )
        .expect("writing to a String");
    }
    source.push_str("];\n");

    fs::create_dir_all(&test_plugin_dir).unwrap_or_else(|e| {
        panic!("cannot create {}: {e}", test_plugin_dir.display());
    });
    for c in &tests {
        let from = out.join(format!("{}.wasm", c.lib_name));
        let to = test_plugin_dir.join(format!("kiln-{}-{}.wasm", c.kind, c.name));
        // Copy to a temporary name and rename, so a test never sees half a file.
        let partial = to.with_extension("wasm.partial");
        fs::copy(&from, &partial)
            .and_then(|_| fs::rename(&partial, &to))
            .unwrap_or_else(|e| {
                panic!("cannot copy {} to {}: {e}", from.display(), to.display());
            });
    }
    writeln!(
        source,
        "pub(crate) const TEST_PLUGIN_DIR: &str = {:?};",
        test_plugin_dir.display().to_string()
    )
    .expect("writing to a String");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out_dir.join("plugins.rs"), source).expect("writing plugins.rs");
}

/// The `<kind>-<name>` crates directly under `dir`; `prefix` is their crate names' start
/// (`kiln-builder-null`, `kiln-test-provisioner-trap`).
fn plugin_crates(dir: &Path, prefix: &str) -> Vec<Crate> {
    let mut found = Vec::new();
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().join("Cargo.toml").is_file() {
            continue;
        }
        // Longest kind first: `post-processor-x` is not a `provisioner`, but check order anyway.
        let Some((kind, variant, name)) = KINDS.iter().find_map(|(kind, variant)| {
            dir_name
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix('-'))
                .map(|name| (*kind, *variant, name.to_owned()))
        }) else {
            continue;
        };
        let lib_name = format!("{prefix}_{dir_name}").replace('-', "_");
        found.push(Crate {
            kind,
            variant,
            name,
            lib_name,
        });
    }
    found.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    found
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for var in OUTER_ENV {
        cmd.env_remove(var);
    }
    cmd
}

fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = libdir
        .as_deref()
        .and_then(|d| fs::read_dir(d).ok())
        .is_some_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        });
    if !installed {
        panic!(
            "\n\nkiln's plugins are WebAssembly components built for {TARGET}, and that target \
             is not installed.\nhint: rustup target add {TARGET}\n\n"
        );
    }
}

fn build(plugins: &Path, target_dir: &Path) {
    // The nested cargo's progress goes to our stderr (cargo shows it if the build fails);
    // stdout is for `cargo:` directives only.
    let status = cargo()
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "\n\nbuilding kiln's plugins for {TARGET} failed (see the output above).\n\
             The command was: cargo build --release --locked --target {TARGET} \
             --manifest-path {} --target-dir {}\n\
             hint: if the target is missing, rustup target add {TARGET}\n\n",
            plugins.join("Cargo.toml").display(),
            target_dir.display()
        );
    }
}
