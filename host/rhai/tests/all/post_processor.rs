//! Post-processor scripts.

use kiln_core::plugin::{Artifact, PluginError, PostProcessor, Processed};

use crate::fixture::{Build, entry, script};

fn input() -> Artifact {
    Artifact {
        builder_id: "kiln.null".into(),
        id: "vm-1".into(),
        description: "a null build".into(),
        files: vec!["disk.img".into()],
        data: vec![("ImageSha256".into(), "abc".into())],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_processor_returns_a_modified_artifact() {
    let build = Build::new();
    let plugin = script(
        "tag.rhai",
        r#"
        fn post_process(artifact) {
            artifact.builder_id = "kiln.tag";
            artifact.description += ` (tagged ${config.tag})`;
            artifact.files.push("disk.img.tag");
            artifact.data.Tag = config.tag;
            artifact
        }
        "#,
    );
    let config = serde_json::json!({"type": "rhai", "script": "tag.rhai", "tag": "v1"}).to_string();
    let processed = plugin
        .post_process(&config, &build.caps(), &input())
        .await
        .unwrap();
    assert_eq!(
        processed,
        Processed {
            artifact: Artifact {
                builder_id: "kiln.tag".into(),
                id: "vm-1".into(),
                description: "a null build (tagged v1)".into(),
                files: vec!["disk.img".into(), "disk.img.tag".into()],
                data: vec![
                    ("ImageSha256".into(), "abc".into()),
                    ("Tag".into(), "v1".into())
                ],
            },
            keep_input: false,
            force_keep: false,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_processor_can_keep_its_input() {
    let build = Build::new();
    let plugin = script(
        "keep.rhai",
        "fn post_process(artifact) { #{artifact: artifact, keep_input: true, force_keep: true} }",
    );
    let processed = plugin
        .post_process(&entry("keep.rhai"), &build.caps(), &input())
        .await
        .unwrap();
    assert_eq!(processed.artifact, input());
    assert!(processed.keep_input && processed.force_keep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_artifact_is_named() {
    let build = Build::new();
    let plugin = script(
        "bad.rhai",
        "fn post_process(artifact) { artifact.files = [1]; artifact }",
    );
    let err = plugin
        .post_process(&entry("bad.rhai"), &build.caps(), &input())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PluginError::Failed(
            "bad.rhai: the artifact post_process returned.files[0] must be a string, not an integer"
                .into()
        )
    );
}
