//! Build-time template text the host left verbatim (`{{.BuildName}}`, `{{.ChecksumType}}`,
//! `{{.Vars}}`), rendered by the host's template engine so functions and quoting behave as
//! everywhere else in the template.

use crate::Error;
use crate::bindings::kiln::plugin::template as host;

/// Renders `text` with `data` (`("ChecksumType", "sha256")`). Pass what Packer provides for
/// that text: the host adds only `build_name` and `build_type`. Of two entries with the same
/// name the later wins, so a plugin can append its own to an artifact's data.
pub fn render(text: &str, data: &[(&str, &str)]) -> Result<String, Error> {
    host::render(text, &dedup(data))
}

fn dedup(data: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(data.len());
    for (k, v) in data {
        out.retain(|(existing, _)| existing != k);
        out.push(((*k).to_owned(), (*v).to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn later_entries_win() {
        let d = super::dedup(&[("A", "1"), ("B", "2"), ("A", "3")]);
        assert_eq!(
            d,
            [
                ("B".to_owned(), "2".to_owned()),
                ("A".to_owned(), "3".to_owned())
            ]
        );
    }
}
