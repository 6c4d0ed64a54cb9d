//! The environment of a shell script and its `{{.Vars}}` text, as Packer builds them: shared by
//! shell-local and the remote `shell` provisioner.

use kiln_plugin_sdk::BuildInfo;

/// Packer's variables (`PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE`, the HTTP server's address
/// when the builder runs one), each also as `KILN_*` (`KILN_BUILD_NAME`, ...), then the user's,
/// sorted by name; a user's variable of the same name wins.
pub fn environment(
    build: &BuildInfo,
    data: &[(String, String)],
    user: &[(String, String)],
) -> Vec<(String, String)> {
    let mut vars = std::collections::BTreeMap::new();
    let mut inject = |suffix: &str, value: String| {
        vars.insert(format!("KILN_{suffix}"), value.clone());
        vars.insert(format!("PACKER_{suffix}"), value);
    };
    inject("BUILD_NAME", build.name.clone());
    inject("BUILDER_TYPE", build.builder_type.clone());
    let get = |key: &str| {
        data.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty() && !v.contains("not implemented"))
    };
    let ip = get("PackerHTTPIP").or_else(|| get("HTTPIP"));
    let port = get("PackerHTTPPort").or_else(|| get("HTTPPort"));
    let addr = get("PackerHTTPAddr").or_else(|| match (&ip, &port) {
        (Some(ip), Some(port)) => Some(format!("{ip}:{port}")),
        _ => None,
    });
    for (suffix, value) in [("HTTP_ADDR", addr), ("HTTP_IP", ip), ("HTTP_PORT", port)] {
        if let Some(value) = value {
            inject(suffix, value);
        }
    }
    for (k, v) in user {
        vars.insert(k.clone(), v.clone());
    }
    vars.into_iter().collect()
}

/// Single quotes in a value, escaped for a single-quoted shell string: `'"'"'`.
pub fn quote_value(value: &str) -> String {
    value.replace('\'', r#"'"'"'"#)
}

/// `{{.Vars}}`: each variable through `env_var_format` (Go's `%s` verbs, key then value), the
/// value's single quotes escaped first, as Packer does.
pub fn flatten(format: &str, env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format_env_var(format, k, &quote_value(v)))
        .collect()
}

/// Go's `fmt.Sprintf(format, key, value)` for the `%s` and `%%` verbs a format uses.
pub fn format_env_var(format: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut args = [key, value].into_iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') | Some('v') => match args.next() {
                Some(arg) => out.push_str(arg),
                None => out.push_str("%!s(MISSING)"),
            },
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> BuildInfo {
        BuildInfo {
            name: "web".into(),
            builder_type: "qemu".into(),
            run_id: "r".into(),
            template_dir: "/t".into(),
            output_dir: "/o".into(),
            temp_dir: "/tmp/x".into(),
            force: false,
            debug: false,
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn packer_variables_come_with_kiln_copies_and_the_users_win() {
        let data = pairs(&[("HTTPIP", "10.0.2.2"), ("HTTPPort", "8100")]);
        let user = pairs(&[("PACKER_BUILD_NAME", "mine"), ("FOO", "bar")]);
        assert_eq!(
            environment(&build(), &data, &user),
            pairs(&[
                ("FOO", "bar"),
                ("KILN_BUILDER_TYPE", "qemu"),
                ("KILN_BUILD_NAME", "web"),
                ("KILN_HTTP_ADDR", "10.0.2.2:8100"),
                ("KILN_HTTP_IP", "10.0.2.2"),
                ("KILN_HTTP_PORT", "8100"),
                ("PACKER_BUILDER_TYPE", "qemu"),
                ("PACKER_BUILD_NAME", "mine"),
                ("PACKER_HTTP_ADDR", "10.0.2.2:8100"),
                ("PACKER_HTTP_IP", "10.0.2.2"),
                ("PACKER_HTTP_PORT", "8100"),
            ])
        );
    }

    #[test]
    fn no_http_server_no_http_variables() {
        let data = pairs(&[("PackerHTTPAddr", ""), ("HTTPIP", "")]);
        let env = environment(&build(), &data, &[]);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "KILN_BUILDER_TYPE",
                "KILN_BUILD_NAME",
                "PACKER_BUILDER_TYPE",
                "PACKER_BUILD_NAME"
            ]
        );
    }

    #[test]
    fn vars_are_sorted_quoted_and_formatted_like_packer() {
        let env = vec![
            ("A".to_owned(), "it's".to_owned()),
            ("PACKER_BUILD_NAME".to_owned(), "b".to_owned()),
        ];
        assert_eq!(
            flatten("%s='%s' ", &env),
            r#"A='it'"'"'s' PACKER_BUILD_NAME='b' "#
        );
        assert_eq!(format_env_var("export %s=%s\n", "K", "v"), "export K=v\n");
        assert_eq!(format_env_var("100%% %s", "K", "v"), "100% K");
    }
}
