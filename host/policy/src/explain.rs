//! `kiln policy show` and `kiln policy explain PLUGIN`: the effective policy and one plugin's
//! grant as TOML-like text, each value followed by the file it came from.

use std::fmt;

use crate::allow_list::AllowList;
use crate::file::{CapabilitiesSection, LimitsSection, VERSION};
use crate::grant::Grant;
use crate::limits::GoDuration;
use crate::policy::{EffectivePolicy, ExecTarget};
use crate::source::{Source, Sourced};

/// Lines of `text  # comment`, the comments aligned.
#[derive(Default)]
struct Doc {
    rows: Vec<(String, Option<String>)>,
}

/// Comments start at this column at most, so one long line does not push every comment right.
const MAX_ALIGN: usize = 44;

impl Doc {
    fn plain(&mut self, text: impl Into<String>) {
        self.rows.push((text.into(), None));
    }

    fn value(&mut self, key: &str, value: impl fmt::Display, source: &Source) {
        self.rows
            .push((format!("{key} = {value}"), Some(source.to_string())));
    }

    fn sourced<T>(&mut self, key: &str, value: &Sourced<T>, show: impl Fn(&T) -> String) {
        self.value(key, show(&value.value), &value.source);
    }

    /// One line when every entry comes from the list's own layer, else one line per entry.
    fn list<T>(
        &mut self,
        key: &str,
        list: &AllowList<T>,
        show: impl Fn(&T) -> (String, Option<&'static str>),
    ) {
        let uniform = list
            .entries
            .iter()
            .all(|e| e.source == list.source && show(&e.value).1.is_none());
        if uniform {
            let values: Vec<String> = list.values().map(|v| quote(&show(v).0)).collect();
            self.value(key, format!("[{}]", values.join(", ")), &list.source);
            return;
        }
        self.value(key, "[", &list.source);
        for entry in &list.entries {
            let (text, note) = show(&entry.value);
            let comment = match note {
                Some(note) => format!("{}; {note}", entry.source),
                None => entry.source.to_string(),
            };
            self.rows
                .push((format!("    {},", quote(&text)), Some(comment)));
        }
        self.plain("]");
    }
}

impl fmt::Display for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(t, _)| t.chars().count())
            .filter(|w| *w <= MAX_ALIGN)
            .max()
            .unwrap_or(0);
        for (text, comment) in &self.rows {
            match comment {
                Some(comment) => writeln!(f, "{text:<width$}  # {comment}")?,
                None => writeln!(f, "{text}")?,
            }
        }
        Ok(())
    }
}

fn quote(text: &str) -> String {
    format!("{text:?}")
}

fn plain<T: fmt::Display>(value: &T) -> (String, Option<&'static str>) {
    (value.to_string(), None)
}

fn local_exec_line(doc: &mut Doc, list: &AllowList<ExecTarget>) {
    match list.entries.as_slice() {
        [] => doc.value("local_exec", false, &list.source),
        [only] if only.value == ExecTarget::Any => doc.value("local_exec", true, &only.source),
        _ => doc.list("local_exec", list, plain),
    }
}

fn fuel(value: &Option<u64>) -> String {
    value.unwrap_or(0).to_string()
}

impl fmt::Display for EffectivePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut doc = Doc::default();
        doc.plain(format!("version = {VERSION}"));
        match &self.locked_by {
            Some(source) => doc.value("locked", true, source),
            None => doc.plain("locked = false"),
        }
        doc.sourced("mode", &self.mode, |m| quote(&m.to_string()));

        let l = &self.limits;
        doc.plain("");
        doc.plain("[limits]");
        doc.sourced("memory", &l.memory, |v| quote(&v.to_string()));
        doc.sourced("wall_time", &l.wall_time, |v| {
            quote(&GoDuration(*v).to_string())
        });
        doc.sourced("builder_wall_time", &l.builder_wall_time, |v| {
            quote(&GoDuration(*v).to_string())
        });
        doc.sourced("fuel", &l.fuel, fuel);
        doc.sourced("output_bytes", &l.output_bytes, |v| quote(&v.to_string()));

        let p = &self.plugins;
        doc.plain("");
        doc.plain("[plugins]");
        doc.list("allowed_sha256", &p.allowed_sha256, plain);
        doc.list("allowed_sources", &p.allowed_sources, plain);
        doc.list("trusted_keys", &p.trusted_keys, plain);
        doc.sourced("allow_unsigned", &p.allow_unsigned, ToString::to_string);
        doc.sourced("rhai", &p.rhai, |r| quote(&r.to_string()));

        let c = &self.capabilities;
        doc.plain("");
        doc.plain("[capabilities]");
        doc.list("hypervisors", &c.hypervisors, plain);
        doc.list("network", &c.network, |s| {
            let note = s.first_party_only.then_some("first-party plugins only");
            (s.value.to_string(), note)
        });
        doc.list("communicator", &c.communicator, plain);
        doc.list("read_only", &c.read_only, plain);
        doc.list("read_write", &c.read_write, plain);
        doc.list("http_bind", &c.http_bind, plain);
        doc.list("env", &c.env, plain);
        local_exec_line(&mut doc, &c.local_exec);

        for o in &self.overrides {
            doc.plain("");
            doc.rows
                .push(("[[override]]".into(), Some(o.source.to_string())));
            doc.plain(format!("sha256 = \"{}\"", o.sha256));
            override_sections(&mut doc, &o.capabilities, &o.limits);
        }
        doc.fmt(f)
    }
}

fn override_sections(doc: &mut Doc, c: &CapabilitiesSection, l: &LimitsSection) {
    fn list<T: fmt::Display>(doc: &mut Doc, key: &str, values: &Option<Vec<T>>) {
        if let Some(values) = values {
            let values: Vec<String> = values.iter().map(|v| quote(&v.to_string())).collect();
            doc.plain(format!("{key} = [{}]", values.join(", ")));
        }
    }
    let caps = [
        c.hypervisors.is_some(),
        c.network.is_some(),
        c.communicator.is_some(),
        c.read_only.is_some(),
        c.read_write.is_some(),
        c.http_bind.is_some(),
        c.env.is_some(),
        c.local_exec.is_some(),
    ];
    if caps.contains(&true) {
        doc.plain("[override.capabilities]");
        list(doc, "hypervisors", &c.hypervisors);
        list(doc, "network", &c.network);
        list(doc, "communicator", &c.communicator);
        list(doc, "read_only", &c.read_only);
        list(doc, "read_write", &c.read_write);
        list(doc, "http_bind", &c.http_bind);
        list(doc, "env", &c.env);
        if let Some(local_exec) = c.local_exec {
            doc.plain(format!("local_exec = {local_exec}"));
        }
    }
    let limits = [
        l.memory.map(|m| format!("memory = \"{m}\"")),
        l.wall_time
            .map(|w| format!("wall_time = \"{}\"", GoDuration(w))),
        l.builder_wall_time
            .map(|w| format!("builder_wall_time = \"{}\"", GoDuration(w))),
        l.fuel.map(|n| format!("fuel = {n}")),
        l.output_bytes.map(|o| format!("output_bytes = \"{o}\"")),
    ];
    if limits.iter().any(Option::is_some) {
        doc.plain("[override.limits]");
        for line in limits.into_iter().flatten() {
            doc.plain(line);
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut doc = Doc::default();
        doc.plain(format!("# {}: {}", self.plugin, self.plugin.origin));
        doc.sourced("mode", &self.mode, |m| quote(&m.to_string()));
        doc.plain("");
        doc.plain("[capabilities]");
        doc.list("hypervisors", &self.hypervisors, plain);
        doc.list("network", &self.network, plain);
        doc.list("communicator", &self.communicator, plain);
        let path = |p: &std::path::PathBuf| (p.display().to_string(), None);
        doc.list("read_only", &self.read_only, path);
        doc.list("read_write", &self.read_write, path);
        doc.list("http_bind", &self.http_bind, plain);
        doc.list("env", &self.env, plain);
        doc.sourced("local_exec", &self.local_exec, ToString::to_string);
        let l = &self.limits;
        doc.plain("");
        doc.plain("[limits]");
        doc.sourced("memory", &l.memory, |v| quote(&v.to_string()));
        doc.sourced("wall_time", &l.wall_time, |v| {
            quote(&GoDuration(*v).to_string())
        });
        doc.sourced("fuel", &l.fuel, fuel);
        doc.sourced("output_bytes", &l.output_bytes, |v| quote(&v.to_string()));
        doc.fmt(f)
    }
}
