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
    "shell-local",
    "vagrant",
    "vagrant-cloud",
    "vsphere",
    "vsphere-template",
];
