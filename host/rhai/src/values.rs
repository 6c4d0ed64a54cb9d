//! The values that cross between kiln and a script: JSON configs as maps, the build, artifacts,
//! and what `prepare` throws.

use rhai::{Array, Dynamic, FLOAT, INT, ImmutableString, Map};

use kiln_core::plugin::{Artifact, BuildInfo, ConfigError, Processed};

/// A JSON value as Rhai sees it: objects become maps, `null` becomes `()`.
pub(crate) fn from_json(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
    }
}

/// A script value as JSON; `what` names it in the error for a value JSON cannot hold.
pub(crate) fn to_json(value: &Dynamic, what: &str) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{what} is {f}, which JSON cannot hold"));
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(items) = value.read_lock::<Array>() {
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| to_json(v, &format!("{what}[{i}]")))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(fields) = value.read_lock::<Map>() {
        let mut object = serde_json::Map::new();
        for (k, v) in fields.iter() {
            object.insert(k.to_string(), to_json(v, &format!("{what}.{k}"))?);
        }
        return Ok(Value::Object(object));
    }
    Err(format!(
        "{what} is a {}, which cannot be sent as JSON",
        value.type_name()
    ))
}

/// The template entry's config as the script's `config`: everything but `type` and `script`,
/// which are kiln's, not the script's.
pub(crate) fn script_config(config: &serde_json::Value) -> Dynamic {
    match config {
        serde_json::Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .filter(|(k, _)| k.as_str() != "type" && k.as_str() != "script")
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
        other => from_json(other),
    }
}

/// The script's `build` map.
pub(crate) fn build_map(build: &BuildInfo) -> Dynamic {
    let mut map = Map::new();
    map.insert("name".into(), build.name.clone().into());
    map.insert("builder_type".into(), build.builder_type.clone().into());
    map.insert("run_id".into(), build.run_id.clone().into());
    let path = |p: &std::path::Path| Dynamic::from(p.display().to_string());
    map.insert("template_dir".into(), path(&build.template_dir));
    map.insert("output_dir".into(), path(&build.output_dir));
    map.insert("temp_dir".into(), path(&build.temp_dir));
    map.insert("force".into(), build.force.into());
    map.insert("debug".into(), build.debug.into());
    Dynamic::from_map(map)
}

/// Generated data (`key → value`) as a map.
pub(crate) fn data_map(data: &[(String, String)]) -> Dynamic {
    Dynamic::from_map(
        data.iter()
            .map(|(k, v)| (k.as_str().into(), v.clone().into()))
            .collect(),
    )
}

/// An artifact as the map scripts read and return.
pub(crate) fn artifact_map(artifact: &Artifact) -> Dynamic {
    let mut map = Map::new();
    map.insert("builder_id".into(), artifact.builder_id.clone().into());
    map.insert("id".into(), artifact.id.clone().into());
    map.insert("description".into(), artifact.description.clone().into());
    map.insert(
        "files".into(),
        Dynamic::from_array(artifact.files.iter().map(|f| f.clone().into()).collect()),
    );
    map.insert("data".into(), data_map(&artifact.data));
    Dynamic::from_map(map)
}

/// A scalar as text: strings as they are, numbers and booleans written out.
fn scalar_text(value: &Dynamic, what: &str) -> Result<String, String> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(s.to_string());
    }
    if value.is_int() || value.is_float() || value.is_bool() || value.is_char() {
        return Ok(value.to_string());
    }
    Err(format!(
        "{what} must be a string, not {}",
        describe_type(value)
    ))
}

/// A string-to-string map (an environment, generated data); numbers and booleans are
/// accepted and written out.
pub(crate) fn string_pairs(value: &Dynamic, what: &str) -> Result<Vec<(String, String)>, String> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(format!(
            "{what} must be a map, not {}",
            describe_type(value)
        ));
    };
    map.iter()
        .map(|(k, v)| Ok((k.to_string(), scalar_text(v, &format!("{what}.{k}"))?)))
        .collect()
}

/// An array of strings (an argv, a file list).
pub(crate) fn string_list(value: &Dynamic, what: &str) -> Result<Vec<String>, String> {
    let Some(items) = value.read_lock::<Array>() else {
        return Err(format!(
            "{what} must be an array of strings, not {}",
            describe_type(value)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.read_lock::<ImmutableString>() {
            Some(s) => Ok(s.to_string()),
            None => Err(format!(
                "{what}[{i}] must be a string, not {}",
                describe_type(v)
            )),
        })
        .collect()
}

/// `a string`, `an array`, `()`: a value's type for error messages.
pub(crate) fn describe_type(value: &Dynamic) -> String {
    match value.type_name() {
        "()" => "()".to_owned(),
        "string" => "a string".to_owned(),
        "array" => "an array".to_owned(),
        "map" => "a map".to_owned(),
        "i64" | "i32" => "an integer".to_owned(),
        "f64" | "f32" => "a float".to_owned(),
        "bool" => "a boolean".to_owned(),
        other => format!("a {}", other.rsplit("::").next().unwrap_or(other)),
    }
}

/// The keys an artifact map may have.
const ARTIFACT_KEYS: &[&str] = &["builder_id", "id", "description", "files", "data"];

/// An artifact map back into an [`Artifact`]. `builder_id` and `id` are required; the rest
/// default to empty. Unknown keys are errors, so a typo (`file`) is not silently dropped.
pub(crate) fn artifact_from(value: &Dynamic, what: &str) -> Result<Artifact, String> {
    let Some(map) = value.read_lock::<Map>() else {
        return Err(format!(
            "{what} must be an artifact map (#{{builder_id, id, description, files, data}}), not {}",
            describe_type(value)
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !ARTIFACT_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "{what} has an unknown key `{unknown}`; an artifact has {}",
            ARTIFACT_KEYS.join(", ")
        ));
    }
    let required = |key: &str| match map.get(key) {
        Some(v) => scalar_text(v, &format!("{what}.{key}")),
        None => Err(format!("{what} has no `{key}`")),
    };
    let optional = |key: &str| match map.get(key) {
        Some(v) => scalar_text(v, &format!("{what}.{key}")),
        None => Ok(String::new()),
    };
    Ok(Artifact {
        builder_id: required("builder_id")?,
        id: required("id")?,
        description: optional("description")?,
        files: match map.get("files") {
            Some(v) => string_list(v, &format!("{what}.files"))?,
            None => Vec::new(),
        },
        data: match map.get("data") {
            Some(v) => string_pairs(v, &format!("{what}.data"))?,
            None => Vec::new(),
        },
    })
}

/// What `post_process` returned: an artifact map, or
/// `#{artifact: ..., keep_input: bool, force_keep: bool}`.
pub(crate) fn processed_from(value: &Dynamic) -> Result<Processed, String> {
    const WHAT: &str = "the artifact post_process returned";
    let wrapped = value
        .read_lock::<Map>()
        .filter(|m| m.contains_key("artifact"))
        .map(|m| m.clone());
    let Some(map) = wrapped else {
        return Ok(Processed {
            artifact: artifact_from(value, WHAT)?,
            keep_input: false,
            force_keep: false,
        });
    };
    const KEYS: &[&str] = &["artifact", "keep_input", "force_keep"];
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "post_process returned a map with an unknown key `{unknown}`; it has {}",
            KEYS.join(", ")
        ));
    }
    let flag = |key: &str| match map.get(key) {
        None => Ok(false),
        Some(v) => v.as_bool().map_err(|_| {
            format!(
                "post_process returned `{key}` as {}; it must be true or false",
                describe_type(v)
            )
        }),
    };
    Ok(Processed {
        artifact: artifact_from(&map["artifact"], WHAT)?,
        keep_input: flag("keep_input")?,
        force_keep: flag("force_keep")?,
    })
}

/// What `prepare` returned: `()` or an array of warnings.
pub(crate) fn warnings_from(value: &Dynamic) -> Result<Vec<String>, String> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if let Some(items) = value.read_lock::<Array>() {
        return Ok(items
            .iter()
            .map(|w| match w.read_lock::<ImmutableString>() {
                Some(s) => s.to_string(),
                None => w.to_string(),
            })
            .collect());
    }
    Err(format!(
        "prepare returned {}; it returns an array of warning strings, or nothing",
        describe_type(value)
    ))
}

/// What `prepare` threw, as config errors: a string (about the config as a whole), a map
/// `#{key, message}`, or an array of those. `None` for anything else, which is then an
/// ordinary script error.
pub(crate) fn config_errors_from(value: &Dynamic) -> Option<Vec<ConfigError>> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Some(vec![ConfigError {
            key: String::new(),
            message: s.to_string(),
        }]);
    }
    if let Some(map) = value.read_lock::<Map>() {
        return config_error(&map).map(|e| vec![e]);
    }
    if let Some(items) = value.read_lock::<Array>() {
        return items
            .iter()
            .map(|item| match item.read_lock::<Map>() {
                Some(map) => config_error(&map),
                None => item.read_lock::<ImmutableString>().map(|s| ConfigError {
                    key: String::new(),
                    message: s.to_string(),
                }),
            })
            .collect();
    }
    None
}

fn config_error(map: &Map) -> Option<ConfigError> {
    let message = map
        .get("message")?
        .read_lock::<ImmutableString>()?
        .to_string();
    let key = match map.get("key") {
        None => String::new(),
        Some(k) => k.read_lock::<ImmutableString>()?.to_string(),
    };
    Some(ConfigError { key, message })
}

/// An integer argument that must fit an `i32`/`u32` (exit codes, modes).
pub(crate) fn int_in<T: TryFrom<INT>>(value: INT, what: &str) -> Result<T, String> {
    T::try_from(value).map_err(|_| format!("{what} {value} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_script_values() {
        let json = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": "d"}});
        assert_eq!(to_json(&from_json(&json), "v"), Ok(json));
    }

    #[test]
    fn config_hides_kilns_own_keys() {
        let config = serde_json::json!({"type": "rhai", "script": "p.rhai", "user": "me"});
        let map = script_config(&config).cast::<Map>();
        assert_eq!(map.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["user"]);
    }

    #[test]
    fn artifact_round_trips_and_typos_are_errors() {
        let artifact = Artifact {
            builder_id: "kiln.null".into(),
            id: "x".into(),
            description: "d".into(),
            files: vec!["a".into()],
            data: vec![("k".into(), "v".into())],
        };
        assert_eq!(artifact_from(&artifact_map(&artifact), "a"), Ok(artifact));
        let mut map = Map::new();
        map.insert("builder_id".into(), "b".into());
        map.insert("id".into(), "i".into());
        map.insert("file".into(), "f".into());
        assert_eq!(
            artifact_from(&Dynamic::from_map(map), "a"),
            Err("a has an unknown key `file`; an artifact has builder_id, id, description, files, data".into())
        );
    }
}
