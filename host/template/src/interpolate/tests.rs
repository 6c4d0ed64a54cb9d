use std::collections::BTreeMap;

use super::*;

fn globals() -> Globals {
    let mut g = Globals::fixed_for_tests(); // 2023-11-14T22:13:20Z
    g.env.insert("HOME_DIR".into(), "/home/me".into());
    g
}

fn vars() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("name".to_owned(), "Web Server".to_owned()),
        ("version".to_owned(), "1.2.3".to_owned()),
        ("empty".to_owned(), String::new()),
    ])
}

fn render_in(phase: Phase, text: &str) -> Result<String, String> {
    let g = globals();
    let mut v = vars();
    let mut ctx = Context::new(&g, &mut v, phase).with_build("deb-qemu", "qemu");
    render(text, &mut ctx).map_err(|e| e.message)
}

#[test]
fn renders_packer_functions() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{user `name`}}", "Web Server"),
        (r#"{{ user "version" }}"#, "1.2.3"),
        ("{{user `name` | lower}}", "web server"),
        ("{{user `name` | upper}}", "WEB SERVER"),
        ("{{timestamp}}", "1700000000"),
        ("{{isotime}}", "2023-11-14T22:13:20Z"),
        (r#"{{isotime "2006-01-02"}}"#, "2023-11-14"),
        (r#"{{ isotime "20060102-1504" }}"#, "20231114-2213"),
        (r#"{{strftime "%Y%m%d"}}"#, "20231114"),
        ("{{build_name}}/{{build_type}}", "deb-qemu/qemu"),
        ("{{template_dir}}:{{pwd}}", "/templates:/work"),
        ("{{packer_version}}", "1.6.6"),
        (r#"{{split "a-b-c" "-" 1}}"#, "b"),
        (r#"{{ split (user `version`) "." 2 }}"#, "3"),
        (r#"{{replace "." "_" 1 "1.2.3"}}"#, "1_2.3"),
        (r#"{{replace "." "_" -1 "1.2.3"}}"#, "1_2_3"),
        (r#"{{ user `version` | replace_all "." "-" }}"#, "1-2-3"),
        ("{{user `name` | clean_resource_name}}", "web-server"),
        (
            "mybuild-{{isotime | clean_resource_name}}",
            "mybuild-2023-11-14t22-13-20z",
        ),
        (r#"{{ lower (user "name") }}"#, "web server"),
        ("a {{- user `version` -}} b", "a1.2.3b"),
        ("a  {{- `x` }}  b", "ax  b"),
        ("x{{/* a comment */}}y", "xy"),
        ("x {{- /* trimmed */ -}} y", "xy"),
        ("{{`raw {{braces}}`}}", "raw {{braces}}"),
    ];
    for (input, want) in cases {
        assert_eq!(
            render_in(Phase::Template, input).as_deref(),
            Ok(*want),
            "input {input:?}"
        );
    }
}

#[test]
fn keeps_build_time_actions_verbatim() {
    let cases: &[&str] = &[
        "{{ .HTTPIP }}:{{ .HTTPPort }}",
        "chmod +x {{.Path}}; {{.Vars}} {{.Path}}",
        "{{if .Sudo}}sudo {{end}}chef-solo -c {{.ConfigPath}}",
        "{{if .Sudo}}sudo {{else}}{{end}}x",
        "{{ build `ID` }}",
        "<esc><wait> {{- .Name -}} <enter>",
        "{{ .SSHPublicKey | upper }}",
    ];
    for input in cases {
        assert_eq!(
            render_in(Phase::Template, input).as_deref(),
            Ok(*input),
            "input {input:?}"
        );
    }
    // Mixed: the user variable is rendered now, the field later.
    assert_eq!(
        render_in(
            Phase::Template,
            "http://{{ .HTTPIP }}:{{ .HTTPPort }}/{{user `version`}}/preseed.cfg"
        )
        .as_deref(),
        Ok("http://{{ .HTTPIP }}:{{ .HTTPPort }}/1.2.3/preseed.cfg")
    );
    assert_eq!(
        render_in(Phase::Template, "{{if .Sudo}}{{user `name`}}{{end}}").as_deref(),
        Ok("{{if .Sudo}}Web Server{{end}}")
    );
}

#[test]
fn build_time_render_evaluates_fields_and_if() {
    let g = globals();
    let mut v = vars();
    let data = BTreeMap::from([
        ("Path".to_owned(), "/tmp/script.sh".to_owned()),
        ("Vars".to_owned(), "A='1'".to_owned()),
        ("Sudo".to_owned(), "true".to_owned()),
        ("Nope".to_owned(), String::new()),
    ]);
    let mut ctx = Context::new(&g, &mut v, Phase::Template).with_data(&data);
    let r = |t: &str, ctx: &mut Context<'_>| render(t, ctx).map_err(|e| e.message);
    assert_eq!(
        r("chmod +x {{.Path}}; {{.Vars}} {{.Path}}", &mut ctx).as_deref(),
        Ok("chmod +x /tmp/script.sh; A='1' /tmp/script.sh")
    );
    assert_eq!(
        r("{{if .Sudo}}sudo {{end}}run", &mut ctx).as_deref(),
        Ok("sudo run")
    );
    assert_eq!(
        r("{{if .Nope}}sudo {{else}}plain {{end}}run", &mut ctx).as_deref(),
        Ok("plain run")
    );
    assert_eq!(
        r("{{ build `Path` }}", &mut ctx).as_deref(),
        Ok("/tmp/script.sh")
    );
    let err = r("{{ .HTTPIP }}", &mut ctx).unwrap_err();
    assert!(
        err.contains("no build variable .HTTPIP here; available: .Nope, .Path, .Sudo, .Vars"),
        "{err}"
    );
}

#[test]
fn errors_name_the_problem() {
    let cases: &[(Phase, &str, &str)] = &[
        (
            Phase::Template,
            "{{user `nope`}}",
            "user variable \"nope\" is not declared",
        ),
        (Phase::Template, "{{ bogus }}", "unknown function \"bogus\""),
        (Phase::Template, "{{ lowr `A` }}", "did you mean \"lower\"?"),
        (
            Phase::Template,
            "{{env `HOME_DIR`}}",
            "env is only allowed in the \"variables\" section",
        ),
        (
            Phase::Template,
            "{{ sed `s/a/b/` }}",
            "use replace or replace_all",
        ),
        (
            Phase::Template,
            "{{ vault `secret/x` `k` }}",
            "not supported by kiln",
        ),
        (
            Phase::Template,
            r#"{{split "a-b" "-" 5}}"#,
            "index 5 out of range",
        ),
        (Phase::Template, "{{ user `name` ", "unclosed action"),
        (
            Phase::Template,
            "{{if .X}}no end",
            "has no matching {{end}}",
        ),
        (Phase::Template, "{{end}}", "unexpected {{end}}"),
        (
            Phase::Template,
            "{{ \"unterminated }}",
            "unterminated quoted string",
        ),
        (
            Phase::Template,
            "{{ lower }}",
            "lower takes 1 string argument; got 0",
        ),
        (Phase::Template, "{{ upper 3 }}", "got int"),
        (Phase::Template, "{{ `a` | }}", "missing command after |"),
        (
            Phase::Template,
            "{{ `a` `b` }}",
            "only a function can take arguments",
        ),
    ];
    for (phase, input, want) in cases {
        let err = render_in(*phase, input).expect_err(input);
        assert!(
            err.contains(want),
            "input {input:?}: error {err:?} should contain {want:?}"
        );
    }
}

#[test]
fn env_is_allowed_in_variables() {
    assert_eq!(
        render_in(Phase::Variables, "{{env `HOME_DIR`}}/x").as_deref(),
        Ok("/home/me/x")
    );
    assert_eq!(
        render_in(Phase::Variables, "[{{env `UNSET_THING`}}]").as_deref(),
        Ok("[]")
    );
}

#[test]
fn uuid_is_fresh_per_call() {
    let a = render_in(Phase::Template, "{{uuid}}").unwrap();
    let b = render_in(Phase::Template, "{{uuid}}").unwrap();
    assert_eq!(a.len(), 36);
    assert_ne!(a, b);
}

#[test]
fn error_offsets_point_at_the_action() {
    let g = globals();
    let mut v = vars();
    let mut ctx = Context::new(&g, &mut v, Phase::Template);
    let err = render("abc {{ nope }}", &mut ctx).unwrap_err();
    assert_eq!(err.offset, 4);
}

#[test]
fn error_spans_narrow_to_the_action_when_written_verbatim() {
    use crate::source::{Format, SourceFile, Span};
    let g = globals();
    let mut v = vars();
    let text = r#"{"a": "{{ upper `x` }} {{ nope }} {{ nope }}", "b": "\u0041 {{ nope }}"}"#;
    let source = SourceFile::new("t.json", ".".into(), text.to_owned(), Format::Json);
    // "a": the first failing action is the first {{ nope }}.
    let a_start = text.find("\"{{").unwrap();
    let a_span = Span::new(a_start, text.find(", \"b\"").unwrap());
    let a_value = "{{ upper `x` }} {{ nope }} {{ nope }}";
    let err = render(a_value, &mut Context::new(&g, &mut v, Phase::Template)).unwrap_err();
    let span = err.span_in(&source, a_span, a_value);
    assert_eq!(&text[span.start..span.end], "{{ nope }}");
    assert_eq!(span.start, text.find("{{ nope }}").unwrap());
    // "b" has an escape before the action, but the action itself is still written verbatim.
    let b_start = text.rfind("\"\\u0041").unwrap();
    let b_span = Span::new(b_start, text.len() - 1);
    let b_value = "A {{ nope }}";
    let err = render(b_value, &mut Context::new(&g, &mut v, Phase::Template)).unwrap_err();
    let span = err.span_in(&source, b_span, b_value);
    assert_eq!(&text[span.start..span.end], "{{ nope }}");
    // An action that is not in the source as written (escaped braces) keeps the whole string.
    let escaped = r#"{"c": "\u007b\u007b nope }}"}"#;
    let source = SourceFile::new("t.json", ".".into(), escaped.to_owned(), Format::Json);
    let c_span = Span::new(6, escaped.len() - 1);
    let err = render("{{ nope }}", &mut Context::new(&g, &mut v, Phase::Template)).unwrap_err();
    assert_eq!(err.span_in(&source, c_span, "{{ nope }}"), c_span);
}
