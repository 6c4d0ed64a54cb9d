use std::sync::Arc;

use super::parse;
use crate::node::{Node, Value};
use crate::source::{Format, SourceFile};

fn source(text: &str, format: Format) -> Arc<SourceFile> {
    SourceFile::new("t", ".".into(), text.to_owned(), format)
}

fn first_error(text: &str, format: Format) -> (String, String) {
    let src = source(text, format);
    let errs = parse(&src).expect_err("should fail");
    let d = errs.errors().next().expect("an error").clone();
    (d.message.clone(), d.position().unwrap_or_default())
}

#[test]
fn json_values_have_spans() {
    let src = source("{\n  \"a\": [1, \"x\"]\n}", Format::Json);
    let root = parse(&src).unwrap();
    let a = root.get("a").unwrap();
    assert_eq!(src.line_col(a.span.start), (2, 8));
    let Value::Array(items) = &a.value else {
        panic!()
    };
    assert_eq!(src.line_col(items[1].span.start), (2, 12));
}

#[test]
fn json_errors_have_positions() {
    let (msg, pos) = first_error(
        "{\n  \"builders\": [{\"type\": \"null\",}]\n}",
        Format::Json,
    );
    assert_eq!(msg, "invalid JSON: Trailing commas are not allowed");
    assert_eq!(pos, "t:2:31");
    let (msg, pos) = first_error("{\"a\": 1,\n \"a\": 2}", Format::Json);
    assert_eq!(msg, "duplicate key \"a\"");
    assert_eq!(pos, "t:2:2");
    let (msg, _) = first_error("{\"a\": 1} // comment", Format::Json);
    assert!(msg.contains("invalid JSON"), "{msg}");
}

#[test]
fn yaml_anchors_aliases_and_merge_keys() {
    let text = "\
boot: &boot
  - <esc><wait>
  - install auto=true
base: &base
  memory: 1024
  cpus: 1
builders:
  - <<: *base
    type: qemu
    cpus: 2        # explicit keys win over merged ones
    boot_command: *boot
";
    let src = source(text, Format::Yaml);
    let root = parse(&src).unwrap();
    let Value::Array(builders) = &root.get("builders").unwrap().value else {
        panic!()
    };
    let b = &builders[0];
    assert_eq!(b.get("cpus").unwrap().to_json(), serde_json::json!(2));
    assert_eq!(b.get("memory").unwrap().to_json(), serde_json::json!(1024));
    assert_eq!(
        b.get("boot_command").unwrap().to_json(),
        serde_json::json!(["<esc><wait>", "install auto=true"])
    );
    // The alias points at its use, for errors about it.
    assert_eq!(
        src.line_col(b.get("boot_command").unwrap().span.start),
        (11, 19)
    );
    assert_eq!(src.line_col(b.get("type").unwrap().span.start), (9, 11));
}

#[test]
fn yaml_core_schema_scalars() {
    let src = source(
        "a: yes\nb: 'true'\nc: true\nd: 010\ne: 1.5\nf: ~\ng: 0x1F\n",
        Format::Yaml,
    );
    let root = parse(&src).unwrap();
    let j = |k: &str| root.get(k).unwrap().to_json();
    assert_eq!(j("a"), serde_json::json!("yes"));
    assert_eq!(j("b"), serde_json::json!("true"));
    assert_eq!(j("c"), serde_json::json!(true));
    assert_eq!(j("d"), serde_json::json!(10));
    assert_eq!(j("e"), serde_json::json!(1.5));
    assert_eq!(j("f"), serde_json::Value::Null);
    assert_eq!(j("g"), serde_json::json!("0x1F"));
}

#[test]
fn yaml_errors_have_positions() {
    let (msg, pos) = first_error("a: 1\na: 2\n", Format::Yaml);
    assert_eq!(
        (msg.as_str(), pos.as_str()),
        ("duplicate key \"a\"", "t:2:1")
    );
    let (msg, pos) = first_error("a:\n  - x\n - y\n", Format::Yaml);
    assert!(msg.starts_with("invalid YAML"), "{msg}");
    assert_eq!(pos, "t:3:2");
    let (msg, _) = first_error("a: *nope\n", Format::Yaml);
    assert!(
        msg.contains("invalid YAML") || msg.contains("unknown anchor"),
        "{msg}"
    );
    let (msg, _) = first_error("a: 1\n---\nb: 2\n", Format::Yaml);
    assert!(msg.contains("one YAML document"), "{msg}");
}

#[test]
fn empty_files_are_errors() {
    assert!(first_error("", Format::Json).0.contains("empty"));
    assert!(
        first_error("# only a comment\n", Format::Yaml)
            .0
            .contains("empty")
    );
}

#[allow(dead_code)]
fn _node_is_send(n: Node) -> impl Send {
    n
}
