//! The template functions, Packer's set with Packer's argument order (the piped value comes last).

use super::{Context, PACKER_COMPAT_VERSION, Phase, Val, build_field, go_time};

/// Every function kiln knows, for "did you mean" hints and the console.
pub const FUNCTION_NAMES: &[&str] = &[
    "build",
    "build_name",
    "build_type",
    "clean_resource_name",
    "env",
    "isotime",
    "lower",
    "packer_version",
    "pwd",
    "replace",
    "replace_all",
    "split",
    "strftime",
    "template_dir",
    "timestamp",
    "upper",
    "user",
    "uuid",
];

pub(super) fn call(name: &str, args: Vec<Val>, ctx: &mut Context<'_>) -> Result<Val, String> {
    let args = Args { name, args };
    let text = |s: String| Ok(Val::Str(s));
    match name {
        "user" => {
            let [var] = args.strings::<1>()?;
            text(ctx.users.user(&var)?)
        }
        "env" => {
            let [var] = args.strings::<1>()?;
            if ctx.phase != Phase::Variables {
                return Err("env is only allowed in the \"variables\" section (as in Packer); declare a variable whose default is {{env `NAME`}} and use {{user `name`}} here".to_owned());
            }
            text(ctx.globals.env.get(&var).cloned().unwrap_or_default())
        }
        "build_name" | "build_type" => {
            args.none()?;
            match (&ctx.build, name) {
                (Some((n, _)), "build_name") => text(n.clone()),
                (Some((_, t)), _) => text(t.clone()),
                (None, _) => Err(format!(
                    "{name} is only available inside a builder, provisioner or post-processor"
                )),
            }
        }
        "build" => {
            let [field] = args.strings::<1>()?;
            build_field(&field, ctx).map(Val::Str)
        }
        "timestamp" => {
            args.none()?;
            text(ctx.globals.now.timestamp().to_string())
        }
        "isotime" => {
            let layout = args.optional_string()?;
            text(go_time::format(
                &ctx.globals.now,
                layout.as_deref().unwrap_or("2006-01-02T15:04:05Z07:00"),
            ))
        }
        "strftime" => {
            let [format] = args.strings::<1>()?;
            strftime(&ctx.globals.now, &format).map(Val::Str)
        }
        "uuid" => {
            args.none()?;
            text(uuid::Uuid::now_v7().to_string())
        }
        "pwd" => {
            args.none()?;
            text(ctx.globals.pwd.clone())
        }
        "template_dir" => {
            args.none()?;
            text(ctx.globals.template_dir.clone())
        }
        "packer_version" => {
            args.none()?;
            text(PACKER_COMPAT_VERSION.to_owned())
        }
        "lower" => {
            let [s] = args.strings::<1>()?;
            text(s.to_lowercase())
        }
        "upper" => {
            let [s] = args.strings::<1>()?;
            text(s.to_uppercase())
        }
        "clean_resource_name" => {
            let [s] = args.strings::<1>()?;
            text(clean_resource_name(&s))
        }
        "split" => {
            let (s, sep, index) = match args.args.as_slice() {
                [Val::Str(s), Val::Str(sep), Val::Int(i)] => (s, sep, *i),
                _ => return Err(args.usage("STRING SEPARATOR INDEX")),
            };
            let parts: Vec<&str> = s.split(sep.as_str()).collect();
            usize::try_from(index)
                .ok()
                .and_then(|i| parts.get(i))
                .map(|p| Val::Str((*p).to_owned()))
                .ok_or_else(|| format!("split: index {index} out of range: {s:?} has {} parts separated by {sep:?}", parts.len()))
        }
        "replace" => match args.args.as_slice() {
            [Val::Str(old), Val::Str(new), Val::Int(n), Val::Str(s)] => {
                text(replace_n(s, old, new, *n))
            }
            _ => Err(args.usage("OLD NEW COUNT STRING (COUNT -1 replaces all)")),
        },
        "replace_all" => match args.args.as_slice() {
            [Val::Str(old), Val::Str(new), Val::Str(s)] => text(s.replace(old.as_str(), new)),
            _ => Err(args.usage("OLD NEW STRING")),
        },
        "sed" => Err("sed is deprecated (as in Packer): use replace or replace_all".to_owned()),
        "consul_key" | "vault" | "aws_secretsmanager" => Err(format!(
            "{name} is not supported by kiln: pass the value with -var, -var-file or a PKR_VAR_ environment variable instead, and list it in \"sensitive-variables\""
        )),
        _ => {
            let mut message = format!("unknown function {name:?}");
            if let Some(similar) = crate::suggest::closest(name, FUNCTION_NAMES.iter().copied()) {
                message.push_str(&format!("; did you mean {similar:?}?"));
            }
            Err(message)
        }
    }
}

struct Args<'n> {
    name: &'n str,
    args: Vec<Val>,
}

impl Args<'_> {
    fn usage(&self, form: &str) -> String {
        let got: Vec<&str> = self.args.iter().map(Val::type_name).collect();
        format!("{} takes {form}; got ({})", self.name, got.join(", "))
    }

    fn none(&self) -> Result<(), String> {
        if self.args.is_empty() {
            Ok(())
        } else {
            Err(format!("{} takes no arguments", self.name))
        }
    }

    fn strings<const N: usize>(self) -> Result<[String; N], String> {
        let usage = format!(
            "{} takes {N} string argument{}",
            self.name,
            if N == 1 { "" } else { "s" }
        );
        if self.args.len() != N {
            return Err(format!("{usage}; got {}", self.args.len()));
        }
        let strings: Vec<String> = self
            .args
            .into_iter()
            .map(|v| match v {
                Val::Str(s) => Ok(s),
                other => Err(format!("{usage}; got {}", other.type_name())),
            })
            .collect::<Result<_, _>>()?;
        strings.try_into().map_err(|_| usage)
    }

    fn optional_string(self) -> Result<Option<String>, String> {
        match self.args.as_slice() {
            [] => Ok(None),
            [Val::Str(s)] => Ok(Some(s.clone())),
            _ => Err(format!("{} takes at most one string argument", self.name)),
        }
    }
}

/// Go's `strings.Replace`: at most `n` replacements, all when `n < 0`.
fn replace_n(s: &str, old: &str, new: &str, n: i64) -> String {
    match usize::try_from(n) {
        Ok(n) => s.replacen(old, new, n),
        Err(_) => s.replace(old, new),
    }
}

/// Lower-case, and every character outside `[a-z0-9-]` replaced by `-` (Packer's documented
/// behaviour: `mybuild-{{isotime | clean_resource_name}}` gives `mybuild-2017-10-18t02-06-30z`).
fn clean_resource_name(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn strftime(now: &chrono::DateTime<chrono::Utc>, format: &str) -> Result<String, String> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(format!("strftime: invalid format {format:?}"));
    }
    Ok(now.format_with_items(items.into_iter()).to_string())
}
