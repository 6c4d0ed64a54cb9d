//! The exact output users see, as reviewed snapshots: every error message has one.

use crate::kiln::{Kiln, fixtures, kiln};

macro_rules! snapshot {
    ($name:ident, $args:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(kiln(&$args).transcript());
        }
    };
}

snapshot!(validate_valid_json, ["validate", "valid.json"]);
snapshot!(validate_valid_yaml_with_anchors, ["validate", "valid.yaml"]);
snapshot!(
    validate_syntax_only,
    ["validate", "-syntax-only", "required-vars.json"]
);
snapshot!(json_syntax_error, ["validate", "syntax-error.json"]);
snapshot!(
    qemu_config_errors_in_packers_words,
    ["validate", "qemu-config-errors.json"]
);
snapshot!(yaml_syntax_error, ["validate", "syntax-error.yaml"]);
snapshot!(duplicate_key, ["validate", "duplicate-key.json"]);
snapshot!(unknown_root_key, ["validate", "unknown-root-key.json"]);
snapshot!(duplicate_build_name, ["validate", "duplicate-build.json"]);
snapshot!(
    only_except_override_name_missing_builds,
    ["validate", "bad-references.json"]
);
snapshot!(unknown_component_types, ["validate", "unknown-types.json"]);
snapshot!(
    interpolation_errors_name_their_place,
    ["validate", "interpolation-errors.json"]
);
snapshot!(
    required_variables_reported_together,
    ["validate", "required-vars.json"]
);
snapshot!(min_packer_version_too_new, ["validate", "min-version.json"]);
snapshot!(
    structural_errors_reported_together,
    ["validate", "structure-errors.json"]
);
snapshot!(no_builders, ["validate", "no-builders.json"]);
snapshot!(
    undeclared_var_flag,
    ["validate", "-var", "greting=hi", "valid.json"]
);
snapshot!(
    malformed_var_flag,
    ["validate", "-var", "greeting", "valid.json"]
);
snapshot!(
    only_typo_in_validate,
    ["validate", "-only=frist,second", "valid.json"]
);
snapshot!(
    only_typo_in_build,
    ["build", "-only=nonexistent", "valid.json"]
);
snapshot!(
    except_typo,
    ["validate", "--except", "sceond", "valid.json"]
);
snapshot!(
    only_and_except_together,
    ["validate", "-only=first", "-except=second", "valid.json"]
);
snapshot!(only_glob_is_valid, ["validate", "-only=f*", "valid.json"]);
snapshot!(
    except_names_a_post_processor,
    ["validate", "-except=tarball", "valid.json"]
);
snapshot!(hcl_is_rejected, ["validate", "template.pkr.hcl"]);
snapshot!(missing_file, ["validate", "does-not-exist.json"]);
snapshot!(inspect_json, ["inspect", "valid.json"]);
snapshot!(inspect_yaml, ["inspect", "valid.yaml"]);
snapshot!(
    inspect_machine_readable,
    ["-machine-readable", "inspect", "valid.json"]
);
snapshot!(
    validate_machine_readable_errors,
    ["validate", "-machine-readable", "bad-references.json"]
);
snapshot!(
    sensitive_value_hidden_in_errors,
    ["validate", "secret-in-error.json"]
);
snapshot!(
    sensitive_value_hidden_in_machine_readable,
    ["-machine-readable", "validate", "secret-in-error.json"]
);
snapshot!(short_secret_warns, ["validate", "short-secret.json"]);
snapshot!(
    plugin_config_errors_point_at_their_keys,
    ["validate", "plugin-config-errors.json"]
);
snapshot!(
    bad_on_error_is_a_usage_error,
    ["build", "-on-error=bogus", "valid.json"]
);
snapshot!(
    unknown_flag_is_a_usage_error,
    ["build", "-parallel=false", "valid.json"]
);
snapshot!(version, ["version"]);
snapshot!(version_machine_readable, ["-machine-readable", "version"]);

#[test]
fn validate_reads_stdin() {
    let text = std::fs::read_to_string(fixtures().join("cli/valid.yaml")).unwrap();
    let run = Kiln::new(&fixtures().join("cli"))
        .args(&["validate", "-"])
        .stdin(&text)
        .run();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "The template is valid.\n"),
        "{}",
        run.stderr
    );
    let bad = Kiln::new(&fixtures().join("cli"))
        .args(&["validate", "-"])
        .stdin("{\"builders\": [}")
        .run();
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("<stdin>:1:15"), "{}", bad.stderr);
}

/// Console output for `{{user `greeting`}}` under a given set of variable flags.
fn greeting(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["console"];
    all.extend_from_slice(args);
    all.push("valid.json");
    let mut k = Kiln::new(&fixtures().join("cli"))
        .args(&all)
        .stdin("{{user `greeting`}}\n");
    for (key, value) in env {
        k = k.env(key, value);
    }
    let run = k.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_owned()
}

#[test]
fn variable_precedence_follows_the_command_line() {
    assert_eq!(greeting(&[], &[]), "hello");
    assert_eq!(
        greeting(&[], &[("PKR_VAR_greeting", "from-env")]),
        "from-env"
    );
    assert_eq!(
        greeting(
            &["-var-file=vars.json"],
            &[("PKR_VAR_greeting", "from-env")]
        ),
        "from-file"
    );
    assert_eq!(
        greeting(&["-var-file=vars.json", "-var", "greeting=cli"], &[]),
        "cli"
    );
    // A -var-file after a -var wins over it (Packer 1.6.6 always prefers -var; kiln follows the
    // command line, which is what Packer's own docs describe).
    assert_eq!(
        greeting(&["-var", "greeting=cli", "-var-file=vars.json"], &[]),
        "from-file"
    );
    assert_eq!(
        greeting(&["-var-file=vars.json", "-var-file=vars.yaml"], &[]),
        "from-yaml-file"
    );
    assert_eq!(
        greeting(&["-var", "greeting=one", "-var", "greeting=two"], &[]),
        "two"
    );
}

#[test]
fn console_evaluates_functions_and_derived_variables() {
    let run = Kiln::new(&fixtures().join("cli"))
        .args(&["console", "valid.json"])
        .env("KILN_TEST_HOME", "/home/tester")
        .stdin("{{user `derived`}}\n{{user `home`}}\n{{ \"A-B\" | lower }}\n{{ isotime \"2006\" | len }}\n{{user `password`}}\n")
        .run();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        ["hello-world", "/home/tester", "a-b", "<sensitive>"],
        "stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unknown function \"len\""),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.code, 1,
        "a failed expression makes a piped console fail"
    );
}

#[test]
fn secrets_never_reach_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kiln.log");
    let run = Kiln::new(&fixtures().join("cli"))
        .args(&[
            "validate",
            "-var",
            "password=hunter3-from-cli",
            "secret-in-error.json",
        ])
        .env("KILN_LOG", "trace")
        .env("KILN_LOG_PATH", log.to_str().unwrap())
        .run();
    assert_eq!(run.code, 1);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("parsing template"),
        "the log should have content: {logged}"
    );
    for text in [&run.stdout, &run.stderr, &logged] {
        assert!(!text.contains("s3cr3t-t0ken"), "secret leaked: {text}");
    }
}

#[test]
fn packer_log_variables_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("packer.log");
    let run = Kiln::new(&fixtures().join("cli"))
        .args(&["validate", "valid.json"])
        .env("PACKER_LOG", "1")
        .env("PACKER_LOG_PATH", log.to_str().unwrap())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("variables resolved")
    );
}

#[test]
fn completions_are_generated() {
    let run = kiln(&["completions", "bash"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("_kiln()"), "{}", run.stdout);
}

#[test]
fn examples_validate_and_their_json_and_yaml_forms_agree() {
    let examples = crate::kiln::workspace().join("examples");
    // Relative paths in a template (`scripts/base.sh`) are relative to the working directory,
    // as in Packer: each example is validated from its own directory, as its README says.
    // The SSH examples read a key that need not exist here: any readable file passes validate.
    let key = "-var=ssh_private_key_file=/dev/null";
    for (template, args) in [
        ("hello/template.json", &[][..]),
        ("ssh-host/template.json", &[key][..]),
        ("rhai-provisioner/ssh.json", &[key][..]),
        ("debian-preseed/template.json", &[][..]),
        ("debian-preseed/template.yaml", &[][..]),
    ] {
        let path = examples.join(template);
        let mut all = vec!["validate"];
        all.extend_from_slice(args);
        all.push(path.to_str().unwrap());
        let run = Kiln::new(path.parent().unwrap()).args(&all).run();
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, "The template is valid.\n"),
            "{template}: {}",
            run.stderr
        );
    }
    let inspect = |file: &str| {
        let run = Kiln::new(&examples.join("debian-preseed"))
            .args(&["inspect", file])
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(inspect("template.json"), inspect("template.yaml"));
}
