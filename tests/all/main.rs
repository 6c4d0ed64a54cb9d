//! kiln's integration tests: one binary, a module per area (wasmtime's layout keeps link time
//! down on small machines).

mod cli_output;
mod conformance;
mod kiln;
mod packer_differential;
