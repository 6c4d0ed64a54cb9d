//! Provisioner scripts: local commands, the UI, config and build, imports.

use std::sync::Arc;

use kiln_core::plugin::{PluginError, Provisioner};
use kiln_core::session::NoSession;
use kiln_rhai::RhaiPlugin;

use crate::fixture::{Build, entry, script};

fn data() -> Vec<(String, String)> {
    vec![("Name".into(), "vm-1".into())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_exec_creates_a_file_in_the_granted_directory() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"
        fn provision(session, data) {
            let target = `${build.output_dir}/${config.file_name}`;
            let code = local_exec(["/bin/sh", "-c", "echo \"hello $WHO\" > \"$TARGET\""],
                                  #{env: #{TARGET: target, WHO: data.Name}});
            if code != 0 { throw `exit ${code}`; }
            let failed = local_exec(["/bin/sh", "-c", "exit 3"]);
            say(`wrote ${config.file_name}; the second command exited ${failed}`);
        }
        "#,
    );
    let config =
        serde_json::json!({"type": "rhai", "script": "provision.rhai", "file_name": "out.txt"})
            .to_string();
    plugin
        .provision(&config, &build.caps(), Arc::new(NoSession), &data())
        .await
        .unwrap();
    let written = std::fs::read_to_string(build.output_dir().join("out.txt")).unwrap();
    assert_eq!(written, "hello vm-1\n");
    assert_eq!(
        build.ui.lines(),
        ["say: wrote out.txt; the second command exited 3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_and_print_reach_the_ui() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"
        fn provision(session, data) {
            print("from print");
            print(40 + 2);
            message(`session: ${session.kind()}`);
            error("something to worry about");
            debug("only in the debug log");
            local_exec(["/bin/echo", "from a command"]);
            say(`no terminal to ask: ${type_of(ask("Continue?"))}`);
        }
        "#,
    );
    plugin
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        build.ui.lines(),
        [
            "message: from print",
            "message: 42",
            "message: session: none",
            "error: something to worry about",
            "message: from a command",
            "say: no terminal to ask: ()",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_build_are_read_only_maps_visible_in_functions() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"
        fn describe() { `${build.name}/${build.builder_type}: ${config.packages.len()} packages` }
        fn provision(session, data) {
            say(describe());
            if "type" in config || "script" in config { throw "kiln's keys leaked"; }
            let shadow = 1;
            try { config.packages = []; throw "config was writable"; } catch (e) {
                if type_of(e) == "string" { throw e; }
            }
            let config = "mine";
            say(config);
        }
        "#,
    );
    let config =
        serde_json::json!({"type": "rhai", "script": "provision.rhai", "packages": ["a", "b"]})
            .to_string();
    plugin
        .provision(&config, &build.caps(), Arc::new(NoSession), &[])
        .await
        .unwrap();
    assert_eq!(
        build.ui.lines(),
        ["say: test/null: 2 packages", "say: mine"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_digest_and_artifacts_go_through_capabilities() {
    let build = Build::new();
    std::fs::write(build.output_dir().join("disk.img"), "abc").unwrap();
    let plugin = script(
        "provision.rhai",
        r#"
        fn provision(session, data) {
            say(render("{{ build_name }} {{ .Extra }}", #{Extra: 7}));
            say(digest("disk.img", "sha256"));
            register_artifact("disk.img");
        }
        "#,
    );
    plugin
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &data(),
        )
        .await
        .unwrap();
    assert_eq!(
        build.ui.lines(),
        [
            "say: test 7",
            "say: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_import_from_the_template_directory() {
    let build = Build::new();
    build.write(
        "lib/common.rhai",
        r#"
        const GREETING = "hello";
        fn greet(who) { `${global::GREETING}, ${who}` }
        "#,
    );
    let path = build.write(
        "provision.rhai",
        r#"
        import "lib/common" as common;
        fn provision(session, data) { say(common::greet(data.Name)); }
        "#,
    );
    let plugin = RhaiPlugin::load(&path).unwrap();
    plugin
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &data(),
        )
        .await
        .unwrap();
    assert_eq!(build.ui.lines(), ["say: hello, vm-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_entry_resolves_the_script_against_the_template_directory() {
    let build = Build::new();
    build.write(
        "scripts/hello.rhai",
        "fn provision(session, data) { say(`hi ${config.who}`) }",
    );
    let config =
        serde_json::json!({"type": "rhai", "script": "scripts/hello.rhai", "who": "there"});
    let plugin = RhaiPlugin::for_entry(build.template_dir(), &config).unwrap();
    assert_eq!(plugin.name(), "scripts/hello.rhai");
    plugin
        .provision(&config.to_string(), &build.caps(), Arc::new(NoSession), &[])
        .await
        .unwrap();
    assert_eq!(build.ui.lines(), ["say: hi there"]);

    let missing = RhaiPlugin::for_entry(build.template_dir(), &serde_json::json!({"type": "rhai"}));
    assert_eq!(
        PluginError::from(missing.unwrap_err()).to_string(),
        "script: a rhai plugin needs \"script\": the path of a .rhai file, relative to the template"
    );
    let unreadable = RhaiPlugin::for_entry(
        build.template_dir(),
        &serde_json::json!({"type": "rhai", "script": "nope.rhai"}),
    );
    assert_eq!(
        unreadable.unwrap_err().to_string(),
        "cannot read nope.rhai: No such file or directory (os error 2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_capability_is_a_denial_and_can_be_caught() {
    let build = Build::without_local_exec();
    let uncaught = script(
        "provision.rhai",
        "fn provision(session, data) {\n    local_exec([\"/bin/true\"]);\n}\n",
    );
    let err = uncaught
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap_err();
    let PluginError::Denied(text) = &err else {
        panic!("not a denial: {err:?}");
    };
    insta::assert_snapshot!(text, @r#"
    provision.rhai:2:5: local exec of "/bin/true" not allowed by capabilities.local_exec (command line) for provisioner rhai
      |
    2 |     local_exec(["/bin/true"]);
      |     ^
    "#);

    let caught = script(
        "provision.rhai",
        r#"
        fn provision(session, data) {
            try { local_exec(["/bin/true"]); } catch (e) { say(`${e.error}: ${e.message}`); say(e); }
        }
        "#,
    );
    caught
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        build.ui.lines(),
        [
            "say: denied: local exec of \"/bin/true\" not allowed by capabilities.local_exec (command line) for provisioner rhai",
            "say: denied: local exec of \"/bin/true\" not allowed by capabilities.local_exec (command line) for provisioner rhai",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_use_without_a_communicator_fails_with_the_sessions_words() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        "fn provision(session, data) {\n    session.exec(\"true\");\n}\n",
    );
    let err = plugin
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Failed(t) if t.starts_with("provision.rhai:2:13: this build has no communicator")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_entry_point_is_named() {
    let build = Build::new();
    let plugin = script("provision.rhai", "fn post_process(artifact) { artifact }");
    let err = Provisioner::prepare(&plugin, &entry("provision.rhai"), &build.caps())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "script: provision.rhai defines no `fn provision(session, data)`; a Rhai provisioner needs one"
    );
    let plugin = script("provision.rhai", "fn provision(session) { }");
    let err = plugin
        .provision(
            &entry("provision.rhai"),
            &build.caps(),
            Arc::new(NoSession),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "script: provision.rhai defines `fn provision` with 1 parameter; a Rhai provisioner needs `fn provision(session, data)`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_returns_warnings_or_config_errors_naming_keys() {
    let build = Build::new();
    let plugin = script(
        "provision.rhai",
        r#"
        fn prepare() {
            let errors = [];
            if !("user" in config) { errors.push(#{key: "user", message: "is required"}); }
            if type_of(config.port) != "i64" { errors.push(#{key: "port", message: "must be a number"}); }
            if errors.len() > 0 { throw errors; }
            if config.port == 22 { return ["port 22 is the default; leave it out"]; }
        }
        fn provision(session, data) {}
        "#,
    );
    let caps = build.caps();
    let invalid = serde_json::json!({"type": "rhai", "script": "p", "port": "x"}).to_string();
    let err = Provisioner::prepare(&plugin, &invalid, &caps)
        .await
        .unwrap_err();
    let PluginError::InvalidConfig(errors) = &err else {
        panic!("not a config error: {err:?}");
    };
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["user", "port"]);
    assert_eq!(
        err.to_string(),
        "2 configuration errors:\n  * user: is required\n  * port: must be a number"
    );

    let warned = serde_json::json!({"user": "me", "port": 22}).to_string();
    assert_eq!(
        Provisioner::prepare(&plugin, &warned, &caps).await.unwrap(),
        ["port 22 is the default; leave it out"]
    );

    let thrown = script(
        "p.rhai",
        "fn prepare() { throw \"needs a user or a key\"; }\nfn provision(s, d) {}",
    );
    let err = Provisioner::prepare(&thrown, "{}", &caps)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "needs a user or a key");
    assert!(matches!(err, PluginError::InvalidConfig(_)));

    // A script bug in prepare is not a config error.
    let buggy = script("p.rhai", "fn prepare() { nope(); }\nfn provision(s, d) {}");
    let err = Provisioner::prepare(&buggy, "{}", &caps).await.unwrap_err();
    assert!(matches!(err, PluginError::Failed(_)), "{err:?}");
}
