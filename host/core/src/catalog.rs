//! The component types kiln accepts in templates. A type outside these lists is an error at
//! validation, with the closest known name as a hint.

/// What a template entry configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentKind {
    Builder,
    Provisioner,
    PostProcessor,
}

impl ComponentKind {
    pub fn noun(self) -> &'static str {
        match self {
            ComponentKind::Builder => "builder",
            ComponentKind::Provisioner => "provisioner",
            ComponentKind::PostProcessor => "post-processor",
        }
    }

    /// The types of this kind kiln knows, sorted.
    pub fn known_types(self) -> &'static [&'static str] {
        match self {
            ComponentKind::Builder => BUILDERS,
            ComponentKind::Provisioner => PROVISIONERS,
            ComponentKind::PostProcessor => POST_PROCESSORS,
        }
    }

    pub fn is_known(self, type_name: &str) -> bool {
        self.known_types().contains(&type_name)
    }
}

/// The types a run accepts: kiln's own, plus plugins found on `KILN_PLUGIN_PATH`.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    extra: Vec<(ComponentKind, String)>,
}

impl Catalog {
    pub fn add(&mut self, kind: ComponentKind, type_name: impl Into<String>) {
        self.extra.push((kind, type_name.into()));
    }

    pub fn is_known(&self, kind: ComponentKind, type_name: &str) -> bool {
        kind.is_known(type_name) || self.extra.iter().any(|(k, t)| *k == kind && t == type_name)
    }

    /// Every known type of a kind, sorted.
    pub fn known_types(&self, kind: ComponentKind) -> Vec<&str> {
        let mut all: Vec<&str> = kind.known_types().to_vec();
        all.extend(
            self.extra
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, t)| t.as_str()),
        );
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// The platforms kiln builds for, under Packer's type names.
pub const BUILDERS: &[&str] = &[
    "amazon-ebs",
    "digitalocean",
    "docker",
    "file",
    "googlecompute",
    "null",
    "openstack",
    "parallels-iso",
    "parallels-pvm",
    "qemu",
    "rhai",
    "virtualbox-iso",
    "virtualbox-ovf",
    "vmware-iso",
    "vmware-vmx",
];

pub const PROVISIONERS: &[&str] = &[
    "ansible",
    "ansible-local",
    "breakpoint",
    "chef-client",
    "chef-solo",
    "file",
    "puppet-masterless",
    "puppet-server",
    "rhai",
    "salt-masterless",
    "shell",
    "shell-local",
    "sleep",
];

pub const POST_PROCESSORS: &[&str] = &[
    "artifice",
    "checksum",
    "compress",
    "docker-import",
    "docker-push",
    "docker-save",
    "docker-tag",
    "manifest",
    "rhai",
    "shell-local",
    "vagrant",
    "vagrant-cloud",
    "vsphere",
    "vsphere-template",
];
