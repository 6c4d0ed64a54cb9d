//! Typed bindings for the plugin contract in `guest-sdk/wit` (the one definition of the plugin
//! API), one module per world. Compiling this module is what checks that the host and the
//! contract agree.

/// `builder-plugin`: builders' step logic.
pub mod builder {
    wasmtime::component::bindgen!({
        world: "builder-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `provisioner-plugin`.
pub mod provisioner {
    wasmtime::component::bindgen!({
        world: "provisioner-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `post-processor-plugin`.
pub mod post_processor {
    wasmtime::component::bindgen!({
        world: "post-processor-plugin",
        path: "../../guest-sdk/wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
