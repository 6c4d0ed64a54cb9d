//! `packer` 1.6.6 (Debian's package) beside `kiln` on the same JSON templates: they must agree
//! on valid/invalid and on the list of builds, except where kiln differs on purpose (each case
//! below, with its reason). Skipped when Packer is not installed, unless KILN_REQUIRE_PACKER=1
//! (CI sets it, so the comparison cannot silently stop running).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::conformance::listed_builds;
use crate::kiln::{Kiln, Run, fixtures, shared_dir, workspace};

/// (template, extra arguments, Packer's exit code, kiln's exit code, why they differ)
const DELIBERATE: &[(&str, &[&str], i32, i32, &str)] = &[
    (
        "differential/undefined-user-variable.json",
        &[],
        0,
        1,
        "Packer renders an undeclared {{user}} as an empty string; kiln names it as an error",
    ),
    (
        "differential/numeric-variable-default.json",
        &[],
        1,
        0,
        "Packer 1.6.6 rejects number and boolean defaults; kiln takes their text (YAML writes `memory: 1024` unquoted)",
    ),
    (
        "differential/undeclared-sensitive-variable.json",
        &[],
        0,
        1,
        "a misspelt sensitive-variables entry would leave a secret unmasked; kiln rejects it",
    ),
    (
        "differential/two-builds.json",
        &["-only=frist"],
        0,
        1,
        "Packer silently builds nothing for an -only name that matches no build; kiln lists the builds",
    ),
    (
        "differential/two-builds.json",
        &["-except=nope"],
        0,
        1,
        "an -except name that matches nothing is a typo; kiln says so",
    ),
    (
        "differential/two-builds.json",
        &["-var", "nope=1"],
        0,
        1,
        "Packer ignores a -var for an undeclared variable in JSON templates; kiln rejects it",
    ),
];

/// The same templates with arguments on which both must agree.
const AGREED_ARGS: &[(&str, &[&str])] = &[
    ("differential/two-builds.json", &["-only=first"]),
    ("differential/two-builds.json", &["-except=record"]),
    ("differential/two-builds.json", &["-var", "greeting=hello"]),
    (
        "differential/two-builds.json",
        &["-var-file=../cli/vars.json"],
    ),
];

pub(crate) fn packer() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("packer"))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var("KILN_REQUIRE_PACKER").is_ok_and(|v| v == "1") {
        panic!("KILN_REQUIRE_PACKER=1 but `packer` is not on PATH (apt-get install packer)");
    }
    found
}

pub(crate) fn run_packer(packer: &Path, dir: &Path, args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let out = Command::new(packer)
        .args(args)
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("HOME", home.path())
        .env_remove("PACKER_LOG")
        .output()
        .expect("packer runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every JSON template the comparison covers: kiln's fixtures, the examples, Packer's corpus.
fn templates() -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut add_dir = |dir: PathBuf| {
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "json")
                    && !p.to_string_lossy().ends_with(".pkr.json")
                {
                    all.push(p);
                }
            }
        }
    };
    add_dir(fixtures());
    add_dir(workspace().join("examples"));
    add_dir(shared_dir().join("conformance/packer-1.6.6"));
    all.sort();
    all
}

/// Whether a template uses a type only kiln has (`rhai`).
fn uses_kiln_only_types(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let template: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let types = ["builders", "provisioners"]
        .iter()
        .flat_map(|k| template[k].as_array().cloned().unwrap_or_default())
        .chain(
            template["post-processors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|c| match c {
                    serde_json::Value::Array(chain) => chain,
                    one => vec![one],
                }),
        )
        .filter_map(|c| c["type"].as_str().map(str::to_owned))
        .collect::<Vec<_>>();
    types.iter().any(|t| t == "rhai")
}

fn in_dir(path: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push(
        path.file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned(),
    );
    (path.parent().expect("dir").to_path_buf(), all)
}

#[test]
fn packer_and_kiln_agree_on_validity_and_builds() {
    let Some(packer) = packer() else {
        eprintln!(
            "skipped: packer is not installed (set KILN_REQUIRE_PACKER=1 to make this an error)"
        );
        return;
    };
    let deliberate_files: Vec<PathBuf> = DELIBERATE
        .iter()
        .filter(|d| d.1.is_empty())
        .map(|d| fixtures().join(d.0))
        .collect();
    let mut disagreements = Vec::new();
    let templates = templates();
    assert!(
        templates.len() > 80,
        "found only {} templates",
        templates.len()
    );
    for path in templates.iter().filter(|p| !deliberate_files.contains(p)) {
        for args in [
            &["validate", "-syntax-only"][..],
            &["-machine-readable", "inspect"][..],
            &["validate"][..],
        ] {
            let full_validate = args == ["validate"];
            let in_corpus = path.starts_with(shared_dir());
            // Packer's corpus uses test-only builder types (`test`, `parallel-test`); its full
            // verdicts are checked in conformance.rs against the recorded ones instead.
            if full_validate && in_corpus {
                continue;
            }
            // Rhai plugins are kiln's own extension: Packer cannot know the type.
            if full_validate && uses_kiln_only_types(path) {
                continue;
            }
            let (dir, argv) = in_dir(path, args);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let p = run_packer(&packer, &dir, &argv);
            let k = Kiln::new(&dir).args(&argv).run();
            let agree = if args.contains(&"inspect") {
                listed_builds(&p) == listed_builds(&k)
            } else {
                p.code == k.code
            };
            if !agree {
                disagreements.push(format!(
                    "{} {:?}: packer {} [{}] kiln {} [{}]\npacker: {}\nkiln: {}",
                    path.display(),
                    args,
                    p.code,
                    listed_builds(&p),
                    k.code,
                    listed_builds(&k),
                    p.stdout.trim(),
                    k.stderr.trim()
                ));
            }
        }
    }
    for (file, args) in AGREED_ARGS {
        let (dir, argv) = in_dir(&fixtures().join(file), &[&["validate"][..], args].concat());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (p, k) = (
            run_packer(&packer, &dir, &argv),
            Kiln::new(&dir).args(&argv).run(),
        );
        if p.code != k.code {
            disagreements.push(format!(
                "{file} {args:?}: packer {} kiln {}\n{}",
                p.code, k.code, k.stderr
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n\n")
    );
}

#[test]
fn deliberate_differences_still_differ_as_documented() {
    let Some(packer) = packer() else {
        eprintln!("skipped: packer is not installed");
        return;
    };
    for (file, args, packer_code, kiln_code, why) in DELIBERATE {
        let (dir, argv) = in_dir(&fixtures().join(file), &[&["validate"][..], args].concat());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let p = run_packer(&packer, &dir, &argv);
        let k = Kiln::new(&dir).args(&argv).run();
        assert_eq!(
            (p.code, k.code),
            (*packer_code, *kiln_code),
            "{file} {args:?} ({why})\npacker: {}{}\nkiln: {}",
            p.stdout,
            p.stderr,
            k.stderr
        );
    }
}
