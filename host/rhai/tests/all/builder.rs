//! Builder scripts: connecting, asking for the provisioners, returning the artifact.

use kiln_core::plugin::{Artifact, Builder};

use crate::fixture::{Build, entry, script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_connects_provisions_and_returns_its_artifact() {
    let build = Build::new();
    let plugin = script(
        "build.rhai",
        r#"
        fn run(hooks) {
            let session = hooks.connect(#{communicator: "none"});
            say(`connected: ${session.kind()}`);
            hooks.provision(session);
            #{builder_id: "kiln.rhai", id: build.name, files: [], data: #{Session: session.kind()}}
        }
        "#,
    );
    let artifact = plugin
        .run(&entry("build.rhai"), &build.caps())
        .await
        .unwrap();
    assert_eq!(
        artifact,
        Artifact {
            builder_id: "kiln.rhai".into(),
            id: "test".into(),
            description: String::new(),
            files: vec![],
            data: vec![("Session".into(), "none".into())],
        }
    );
    assert_eq!(*build.hooks.provisioned.lock().unwrap(), ["none"]);
    assert_eq!(build.ui.lines(), ["say: connected: none"]);
}
