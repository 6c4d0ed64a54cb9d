//! Packer's own template fixtures (v1.6.6) against the verdicts Packer recorded for them in
//! `expected.tsv`: syntax-only validity and the builds `inspect` lists. Runs without Packer.

use std::path::Path;

use crate::kiln::{Kiln, Run, shared_dir};

/// Where kiln differs from Packer on purpose, and why.
const DELIBERATE: &[(&str, &str)] = &[(
    "command/test-fixtures/build-only/template.pkr.json",
    "HCL2 (.pkr.json/.pkr.hcl) is not supported: kiln reads the JSON template format and the same schema in YAML, and says so",
)];

struct Row {
    file: String,
    syntax_only_rc: i32,
    validate_rc: i32,
    builds: String,
}

fn corpus() -> (std::path::PathBuf, Vec<Row>) {
    let root = shared_dir().join("conformance/packer-1.6.6");
    let tsv = std::fs::read_to_string(root.join("expected.tsv")).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared fixtures sit beside the clone, or set KILN_SHARED_DIR)",
            root.display()
        )
    });
    let rows = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Row {
                file: cols[0].to_owned(),
                syntax_only_rc: cols[1].parse().expect("syntax_only_rc"),
                validate_rc: cols[2].parse().expect("validate_rc"),
                builds: cols.get(3).copied().unwrap_or("").to_owned(),
            }
        })
        .collect();
    (root, rows)
}

/// Runs kiln from the fixture's own directory, as Packer's verdicts were recorded.
fn kiln_in(root: &Path, file: &str, args: &[&str]) -> Run {
    let path = root.join(file);
    let mut all: Vec<&str> = args.to_vec();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    all.push(name);
    Kiln::new(path.parent().expect("dir")).args(&all).run()
}

pub fn listed_builds(run: &Run) -> String {
    let mut names: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            (fields.get(2) == Some(&"template-builder")).then(|| fields[3])
        })
        .collect();
    names.sort_unstable();
    names.join(",")
}

#[test]
fn packer_fixtures_get_packers_syntax_verdicts_and_builds() {
    let (root, rows) = corpus();
    assert!(rows.len() >= 70, "the corpus has {} rows", rows.len());
    let mut mismatches = Vec::new();
    for row in &rows {
        if DELIBERATE.iter().any(|(f, _)| *f == row.file) {
            continue;
        }
        let syntax = kiln_in(&root, &row.file, &["validate", "--syntax-only"]);
        if syntax.code != row.syntax_only_rc {
            mismatches.push(format!(
                "{}: syntax-only exit {} (Packer {})\n{}",
                row.file, syntax.code, row.syntax_only_rc, syntax.stderr
            ));
        }
        let inspect = kiln_in(&root, &row.file, &["--machine-readable", "inspect"]);
        let builds = listed_builds(&inspect);
        if builds != row.builds {
            mismatches.push(format!(
                "{}: builds [{builds}] (Packer [{}])",
                row.file, row.builds
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn templates_packer_fully_accepts_are_accepted() {
    let (root, rows) = corpus();
    let mut rejected = Vec::new();
    for row in rows.iter().filter(|r| r.validate_rc == 0) {
        if DELIBERATE.iter().any(|(f, _)| *f == row.file) {
            continue;
        }
        let run = kiln_in(&root, &row.file, &["validate"]);
        if run.code != 0 {
            rejected.push(format!("{}:\n{}", row.file, run.stderr));
        }
    }
    assert!(
        rejected.is_empty(),
        "kiln rejects what Packer accepts:\n{}",
        rejected.join("\n")
    );
}

#[test]
fn deliberate_differences_are_what_they_say() {
    let (root, _) = corpus();
    let run = kiln_in(&root, DELIBERATE[0].0, &["validate", "--syntax-only"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("HCL2 templates are not supported"),
        "{}",
        run.stderr
    );
}
