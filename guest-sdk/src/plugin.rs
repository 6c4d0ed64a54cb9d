//! The three kinds of plugin, as traits mirroring the contract's exports, and the glue the
//! export macros call.
//!
//! Every export is called in a fresh instance, so there is no `self`: each call decodes the
//! config again and runs [`Provisioner::prepare`] (or the builder's or post-processor's) on it
//! before the work, so the work always sees a checked config with its derived defaults.

use crate::{Artifact, BuildInfo, Error, PluginInfo, Processed, Session, config};

/// A builder's logic: creates the machine, connects, runs the provisioners, produces an
/// artifact.
pub trait Builder {
    /// The config, decoded with [`config::decode`] (use `#[serde(deny_unknown_fields)]`), or
    /// in two parts with [`config::WithShared`].
    type Config: config::Decode;

    fn info() -> PluginInfo;

    /// Checks the decoded config beyond its types, filling in defaults that depend on other
    /// keys. Returns warnings, or every problem at once (see [`config::Problems`]).
    fn prepare(config: &mut Self::Config, build: &BuildInfo) -> Result<Vec<String>, Error>;

    /// Runs the build: call [`crate::hooks::provision`] with a session to run the template's
    /// provisioners.
    fn run(config: Self::Config, build: &BuildInfo) -> Result<Artifact, Error>;
}

/// A provisioner: works on the machine through the session it is handed.
pub trait Provisioner {
    type Config: config::Decode;

    fn info() -> PluginInfo;

    fn prepare(config: &mut Self::Config, build: &BuildInfo) -> Result<Vec<String>, Error>;

    /// `data` is the builder's generated data (`HTTPIP`, `HTTPPort`, `SSHPublicKey`, ...).
    fn provision(
        config: Self::Config,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error>;
}

/// A post-processor: turns the previous artifact into a new one.
pub trait PostProcessor {
    type Config: config::Decode;

    fn info() -> PluginInfo;

    fn prepare(config: &mut Self::Config, build: &BuildInfo) -> Result<Vec<String>, Error>;

    fn post_process(
        config: Self::Config,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error>;
}

impl PluginInfo {
    /// `version` is usually `env!("CARGO_PKG_VERSION")`.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        PluginInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
        }
    }
}

impl Processed {
    /// A new artifact; the input is kept only if the user asks (`keep_input_artifact`).
    pub fn new(artifact: Artifact) -> Self {
        Processed {
            artifact,
            keep_input: false,
            force_keep: false,
        }
    }

    /// The input artifact itself, passed on (shell-local): kept whatever the user said, since
    /// it is the output too.
    pub fn unchanged(input: Artifact) -> Self {
        Processed {
            artifact: input,
            keep_input: true,
            force_keep: true,
        }
    }
}

/// Decodes and checks a config: the first step of every call.
fn checked<C: config::Decode>(
    config: &str,
    build: &BuildInfo,
    prepare: impl FnOnce(&mut C, &BuildInfo) -> Result<Vec<String>, Error>,
) -> Result<(C, Vec<String>), Error> {
    let mut decoded = C::decode(config)?;
    let warnings = prepare(&mut decoded, build)?;
    Ok((decoded, warnings))
}

/// What the export macros expand to. Not part of the API.
#[doc(hidden)]
pub mod glue {
    use super::*;

    pub use crate::bindings::builder_world;
    pub use crate::bindings::post_processor_world;
    pub use crate::bindings::provisioner_world;

    pub fn builder_prepare<T: Builder>(
        config: &str,
        build: &BuildInfo,
    ) -> Result<Vec<String>, Error> {
        checked(config, build, T::prepare).map(|(_, w)| w)
    }

    pub fn builder_run<T: Builder>(config: &str, build: &BuildInfo) -> Result<Artifact, Error> {
        let (config, _) = checked(config, build, T::prepare)?;
        T::run(config, build)
    }

    pub fn provisioner_prepare<T: Provisioner>(
        config: &str,
        build: &BuildInfo,
    ) -> Result<Vec<String>, Error> {
        checked(config, build, T::prepare).map(|(_, w)| w)
    }

    pub fn provisioner_provision<T: Provisioner>(
        config: &str,
        build: &BuildInfo,
        session: &Session,
        data: &[(String, String)],
    ) -> Result<(), Error> {
        let (config, _) = checked(config, build, T::prepare)?;
        T::provision(config, build, session, data)
    }

    pub fn post_processor_prepare<T: PostProcessor>(
        config: &str,
        build: &BuildInfo,
    ) -> Result<Vec<String>, Error> {
        checked(config, build, T::prepare).map(|(_, w)| w)
    }

    pub fn post_processor_post_process<T: PostProcessor>(
        config: &str,
        build: &BuildInfo,
        input: Artifact,
    ) -> Result<Processed, Error> {
        let (config, _) = checked(config, build, T::prepare)?;
        T::post_process(config, build, input)
    }
}

/// Exports a [`Builder`] as the component's `builder` interface:
/// `kiln_plugin_sdk::export_builder!(Null);`
#[macro_export]
macro_rules! export_builder {
    ($ty:ty) => {
        const _: () = {
            struct KilnBuilderExport;

            impl $crate::plugin::glue::builder_world::exports::kiln::plugin::builder::Guest
                for KilnBuilderExport
            {
                fn info() -> $crate::PluginInfo {
                    <$ty as $crate::Builder>::info()
                }

                fn prepare(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::Error>
                {
                    $crate::plugin::glue::builder_prepare::<$ty>(&config, &build)
                }

                fn run(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                ) -> ::std::result::Result<$crate::Artifact, $crate::Error> {
                    $crate::plugin::glue::builder_run::<$ty>(&config, &build)
                }
            }

            $crate::plugin::glue::builder_world::export!(
                KilnBuilderExport with_types_in $crate::plugin::glue::builder_world
            );
        };
    };
}

/// Exports a [`Provisioner`] as the component's `provisioner` interface:
/// `kiln_plugin_sdk::export_provisioner!(ShellLocal);`
#[macro_export]
macro_rules! export_provisioner {
    ($ty:ty) => {
        const _: () = {
            struct KilnProvisionerExport;

            impl $crate::plugin::glue::provisioner_world::exports::kiln::plugin::provisioner::Guest
                for KilnProvisionerExport
            {
                fn info() -> $crate::PluginInfo {
                    <$ty as $crate::Provisioner>::info()
                }

                fn prepare(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::Error>
                {
                    $crate::plugin::glue::provisioner_prepare::<$ty>(&config, &build)
                }

                fn provision(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                    session: &$crate::Session,
                    data: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), $crate::Error> {
                    $crate::plugin::glue::provisioner_provision::<$ty>(
                        &config, &build, session, &data,
                    )
                }
            }

            $crate::plugin::glue::provisioner_world::export!(
                KilnProvisionerExport with_types_in $crate::plugin::glue::provisioner_world
            );
        };
    };
}

/// Exports a [`PostProcessor`] as the component's `post-processor` interface:
/// `kiln_plugin_sdk::export_post_processor!(Checksum);`
#[macro_export]
macro_rules! export_post_processor {
    ($ty:ty) => {
        const _: () = {
            struct KilnPostProcessorExport;

            impl $crate::plugin::glue::post_processor_world::exports::kiln::plugin::post_processor::Guest
                for KilnPostProcessorExport
            {
                fn info() -> $crate::PluginInfo {
                    <$ty as $crate::PostProcessor>::info()
                }

                fn prepare(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                ) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::Error>
                {
                    $crate::plugin::glue::post_processor_prepare::<$ty>(&config, &build)
                }

                fn post_process(
                    config: ::std::string::String,
                    build: $crate::BuildInfo,
                    input: $crate::Artifact,
                ) -> ::std::result::Result<$crate::Processed, $crate::Error> {
                    $crate::plugin::glue::post_processor_post_process::<$ty>(&config, &build, input)
                }
            }

            $crate::plugin::glue::post_processor_world::export!(
                KilnPostProcessorExport with_types_in $crate::plugin::glue::post_processor_world
            );
        };
    };
}
