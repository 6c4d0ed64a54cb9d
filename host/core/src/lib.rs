//! The kiln build core: what to build and how, independent of any terminal.
//!
//! [`plan::Plan::new`] takes a decoded [`kiln_template::Template`] and its resolved
//! [`kiln_template::variables::Variables`], checks what Packer's `validate` checks (types,
//! `only`/`except`/`override` names, `min_packer_version`), applies `-only`/`-except`
//! ([`selection::Selection`]) and interpolates each selected build's components.
//! [`pipeline::run`] then runs the plan: each build's builder, provisioners and post-processor
//! chains, as plugins ([`plugin`]) found by a [`plugin::PluginSource`], each call given the
//! build's [`capabilities::Capabilities`] (the one door to the world, checked against a
//! [`capabilities::Grant`]) and everything opened recorded in the build's [`ledger::Ledger`].
//! [`redact::Redactor`] hides secret values from everything shown.

pub mod archive;
pub mod capabilities;
pub mod catalog;
pub mod checksum;
pub mod digest;
pub mod download;
pub mod ledger;
pub mod pipeline;
pub mod plan;
pub mod plugin;
pub mod redact;
pub mod selection;
pub mod session;
pub mod ui;

pub use plan::Plan;
pub use redact::Redactor;
pub use selection::Selection;
