//! Typed bindings for the plugin contract in `guest-sdk/wit` (the one definition of the plugin
//! API), one module per world. The builder world imports every shared interface, so its
//! module owns their generated types and host traits; the other two worlds reuse them
//! (`with`), which is why each host trait is implemented once, in [`crate::imports`].

/// `builder-plugin`: builders' step logic, and the owner of the shared interfaces.
pub mod builder {
    wasmtime::component::bindgen!({
        world: "builder-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "kiln:plugin/communicator.session": crate::imports::SessionHandle,
            "kiln:plugin/log.progress": crate::imports::ProgressHandle,
            "kiln:plugin/http-serve.server": crate::imports::ServerHandle,
            "kiln:plugin/hypervisor.machine": crate::imports::MachineHandle,
        },
    });
}

/// `provisioner-plugin`; `ssh-login` is imported only here, so this module owns it.
pub mod provisioner {
    wasmtime::component::bindgen!({
        world: "provisioner-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "kiln:plugin/ssh-login.login": crate::imports::LoginHandle,
            "kiln:plugin/types": super::builder::kiln::plugin::types,
            "kiln:plugin/log": super::builder::kiln::plugin::log,
            "kiln:plugin/communicator": super::builder::kiln::plugin::communicator,
            "kiln:plugin/artifacts": super::builder::kiln::plugin::artifacts,
            "kiln:plugin/template": super::builder::kiln::plugin::template,
            "kiln:plugin/local-exec": super::builder::kiln::plugin::local_exec,
        },
    });
}

/// `post-processor-plugin`; `archive` is imported only here.
pub mod post_processor {
    wasmtime::component::bindgen!({
        world: "post-processor-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "kiln:plugin/types": super::builder::kiln::plugin::types,
            "kiln:plugin/log": super::builder::kiln::plugin::log,
            "kiln:plugin/artifacts": super::builder::kiln::plugin::artifacts,
            "kiln:plugin/template": super::builder::kiln::plugin::template,
            "kiln:plugin/local-exec": super::builder::kiln::plugin::local_exec,
            "kiln:plugin/download": super::builder::kiln::plugin::download,
        },
    });
}
