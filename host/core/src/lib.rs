//! The kiln build core: what to build and how, independent of any terminal.
//!
//! [`plan::Plan::new`] takes a decoded [`kiln_template::Template`] and its resolved
//! [`kiln_template::variables::Variables`], checks what Packer's `validate` checks (types,
//! `only`/`except`/`override` names, `min_packer_version`), applies `-only`/`-except`
//! ([`selection::Selection`]) and interpolates each selected build's components.
//! [`redact::Redactor`] hides secret values from everything shown.

pub mod catalog;
pub mod plan;
pub mod redact;
pub mod selection;

pub use plan::Plan;
pub use redact::Redactor;
pub use selection::Selection;
