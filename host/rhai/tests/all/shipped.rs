//! The scripts kiln ships (`scripts/`) and the example (`examples/rhai-provisioner`), run for
//! real.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_core::plugin::{Artifact, PluginError, PostProcessor, Provisioner};
use kiln_core::session::NoSession;
use kiln_rhai::RhaiPlugin;

use crate::fixture::{Build, entry};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checksum_script_writes_sum_files_sha256sum_can_check() {
    let build = Build::new();
    std::fs::write(build.output_dir().join("disk.img"), "abc").unwrap();
    let plugin = RhaiPlugin::load(&repo().join("scripts/checksum.rhai")).unwrap();
    let config = entry("checksum.rhai");
    let caps = build.caps();
    assert!(
        PostProcessor::prepare(&plugin, &config, &caps)
            .await
            .unwrap()
            .is_empty()
    );
    let input = Artifact {
        builder_id: "kiln.null".into(),
        id: "vm".into(),
        description: "an image".into(),
        files: vec!["disk.img".into()],
        data: vec![],
    };
    let processed = plugin.post_process(&config, &caps, &input).await.unwrap();
    let sum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let sum_file = build.output_dir().join("disk.img.sha256");
    assert_eq!(
        processed.artifact,
        Artifact {
            builder_id: "kiln.post-processor.checksum".into(),
            id: "vm".into(),
            description: "sha256 checksums of 1 file(s)".into(),
            files: vec![sum_file.display().to_string()],
            data: vec![("disk.img".into(), sum.into())],
        }
    );
    assert!(processed.keep_input && processed.force_keep);
    assert_eq!(
        std::fs::read_to_string(&sum_file).unwrap(),
        format!("{sum}  disk.img\n")
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "disk.img.sha256"])
        .current_dir(build.output_dir())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checksum_script_rejects_an_unknown_algorithm() {
    let build = Build::new();
    let plugin = RhaiPlugin::load(&repo().join("scripts/checksum.rhai")).unwrap();
    let config =
        serde_json::json!({"type": "rhai", "script": "checksum.rhai", "algorithm": "crc32"});
    let err = PostProcessor::prepare(&plugin, &config.to_string(), &build.caps())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        PluginError::InvalidConfig(vec![kiln_core::plugin::ConfigError {
            key: "algorithm".into(),
            message: r#"must be one of ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"], not crc32"#.into(),
        }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rhai_provisioner_example_runs() {
    let dir = repo().join("examples/rhai-provisioner");
    let template: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("template.json")).unwrap()).unwrap();
    // The entry as the planner hands it over: user variables interpolated.
    let mut config = template["provisioners"][0].clone();
    config["owner"] = "the platform team".into();
    let build = Build::of_template(&dir);
    let plugin = RhaiPlugin::for_entry(&dir, &config).unwrap();
    let caps = build.caps();
    let config = config.to_string();
    assert!(
        Provisioner::prepare(&plugin, &config, &caps)
            .await
            .unwrap()
            .is_empty()
    );
    plugin
        .provision(&config, &caps, Arc::new(NoSession), &[])
        .await
        .unwrap();
    let report = std::fs::read_to_string(build.output_dir().join("report.txt")).unwrap();
    assert!(
        report.starts_with(
            "Build test\n==========\nowner:   the platform team\nrun:     run-1\nsession: none\n\nChecks\n======\n"
        ),
        "{report}"
    );
    let checks: Vec<&str> = report.lines().skip(8).collect();
    assert_eq!(checks.len(), 2, "{report}");
    assert!(checks.iter().all(|c| c.ends_with(" ok")), "{report}");
    let lines = build.ui.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("say: Provisioning test (a null build) for the platform team")
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("say: Wrote report.txt")
    );

    let mut broken: serde_json::Value = serde_json::from_str(&config).unwrap();
    broken["owner"] = "".into();
    broken["report"] = "../escape.txt".into();
    let err = Provisioner::prepare(&plugin, &broken.to_string(), &caps)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 configuration errors:\n  * owner: must name who the image is for\n  * report: must be a file name (it is written to the output directory)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_examples_script_runs() {
    let dir = repo().join("examples/hello");
    let config = serde_json::json!({"type": "rhai", "script": "hello.rhai", "greeting": "Hi"});
    let build = Build::of_template(&dir);
    let plugin = RhaiPlugin::for_entry(&dir, &config).unwrap();
    plugin
        .provision(&config.to_string(), &build.caps(), Arc::new(NoSession), &[])
        .await
        .unwrap();
    let lines = build.ui.lines();
    assert_eq!(lines[0], "say: Hello from Rhai, in build test (null)");
    assert_eq!(lines.last().unwrap(), "message: the greeting was: Hi");
}
