//! Build-time template text the host left verbatim (`{{.BuildName}}`, `{{.ChecksumType}}`,
//! `{{.Vars}}`), rendered by the host's template engine so functions and quoting behave as
//! everywhere else in the template.

use crate::Error;
use crate::bindings::kiln::plugin::template as host;

/// Renders `text` with `data` (`("ChecksumType", "sha256")`). Pass what Packer provides for
/// that text: the host adds only `build_name` and `build_type`.
pub fn render(text: &str, data: &[(&str, &str)]) -> Result<String, Error> {
    let data: Vec<(String, String)> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    host::render(text, &data)
}
