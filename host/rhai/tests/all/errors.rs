//! What users read when a script is wrong: exact messages, with file, line, column and the line.

use std::sync::Arc;

use kiln_core::plugin::{PluginError, Provisioner};
use kiln_core::session::NoSession;
use kiln_rhai::{Limits, RhaiPlugin};

use crate::fixture::{Build, entry, script};

async fn provision_error(build: &Build, plugin: &RhaiPlugin) -> PluginError {
    plugin
        .provision(
            &entry(plugin.name()),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap_err()
}

#[test]
fn a_parse_error_points_at_its_line_and_column() {
    let err = RhaiPlugin::from_source(
        "provision.rhai",
        "fn provision(session, data) {\n    let packages = [\"curl\", \"git\"\n    say(packages);\n}\n",
        Limits::default(),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @r#"
    provision.rhai:3:5: Expecting ',' to separate the items of this array literal
      |
    3 |     say(packages);
      |     ^
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_error_points_at_its_line_and_column() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"// Installs the packages.
fn provision(session, data) {
    let packages = config.packages;
    for p in packages {
        say(p);
    }
    let x = frobnicate("now");
}
"#,
    );
    let config =
        serde_json::json!({"type": "rhai", "script": "provision.rhai", "packages": ["curl"]});
    let err = plugin
        .provision(&config.to_string(), &build.caps(), Arc::new(NoSession), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Failed(_)), "{err:?}");
    assert_eq!(build.ui.lines(), ["say: curl"]);
    insta::assert_snapshot!(err.to_string(), @r#"
    provision.rhai:7:13: Function not found: frobnicate (&str | ImmutableString | String)
      |
    7 |     let x = frobnicate("now");
      |             ^
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thrown_string_is_the_message() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "fn check(size) {\n    if size < 10 { throw `disk of ${size} GB is too small`; }\n}\nfn provision(session, data) {\n    check(4);\n}\n",
    );
    insta::assert_snapshot!(provision_error(&build, &plugin).await.to_string(), @r#"
    provision.rhai:2:20: disk of 4 GB is too small
      |
    2 |     if size < 10 { throw `disk of ${size} GB is too small`; }
      |                    ^
      in check(), called at provision.rhai:5:5
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_inside_a_module_names_the_modules_file() {
    let build = Build::new();
    build.write(
        "lib/packages.rhai",
        "fn install(session, names) {\n    for n in names { session.exec(`apt-get install -y ${n}`); }\n    names.frobnicate();\n}\n",
    );
    let path = build.write(
        "provision.rhai",
        "import \"lib/packages\" as packages;\n\nfn provision(session, data) {\n    packages::install(session, []);\n}\n",
    );
    let plugin = RhaiPlugin::load(&path).unwrap();
    insta::assert_snapshot!(provision_error(&build, &plugin).await.to_string().replace(&path.display().to_string(), "provision.rhai"), @r"
    lib/packages.rhai:3:11: Function not found: frobnicate (array)
      |
    3 |     names.frobnicate();
      |           ^
      in install(), called at provision.rhai:4:15
    ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_error_inside_a_module_names_the_modules_file() {
    let build = Build::new();
    build.write("lib/broken.rhai", "fn f() {\n    let = 1;\n}\n");
    let plugin = script(
        "provision.rhai",
        "import \"lib/broken\" as b;\nfn provision(session, data) {}\n",
    );
    insta::assert_snapshot!(provision_error(&build, &plugin).await.to_string(), @r"
    lib/broken.rhai:2:9: Expecting name of a variable
      |
    2 |     let = 1;
      |         ^
      in module lib/broken.rhai, imported at provision.rhai:1:8
    ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_outside_the_template_directory_are_refused() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "import \"../../etc/passwd\" as p;\nfn provision(session, data) {}\n",
    );
    insta::assert_snapshot!(provision_error(&build, &plugin).await.to_string(), @r#"
    provision.rhai:1:8: module "../../etc/passwd" is outside the template's directory
      |
    1 | import "../../etc/passwd" as p;
      |        ^
    "#);
    let plugin = script(
        "provision.rhai",
        "import \"/etc/passwd\" as p;\nfn provision(session, data) {}\n",
    );
    let err = provision_error(&build, &plugin).await.to_string();
    assert!(err.contains("is an absolute path"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_recursion_lists_a_few_calls_not_all() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "fn down(n) { [n].map(|x| down(x + 1)) }\nfn provision(session, data) { down(0); }\n",
    );
    insta::assert_snapshot!(provision_error(&build, &plugin).await.to_string(), @r"
    provision.rhai:1:18: calls nested deeper than the limit of 64 (a recursion that never ends?)
      |
    1 | fn down(n) { [n].map(|x| down(x + 1)) }
      |                  ^
      in map(), called at provision.rhai:1:18
      in down(), called at provision.rhai:1:26
      in a closure, called at provision.rhai:1:18
      in map(), called at provision.rhai:1:18
      in down(), called at provision.rhai:1:26
      in a closure, called at provision.rhai:1:18
      in map(), called at provision.rhai:1:18
      in down(), called at provision.rhai:1:26
      ... and 57 more
    ");
}
