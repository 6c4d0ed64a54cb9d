//! Which Vagrant provider an artifact is boxed for, by Packer's builder id map, and which of
//! Packer's providers kiln can box today.

/// Packer 1.6.6's `builtins`: the builder ids whose artifacts it boxes, and for which provider.
const BUILTINS: &[(&str, &str)] = &[
    ("mitchellh.amazonebs", "aws"),
    ("mitchellh.amazon.instance", "aws"),
    ("mitchellh.virtualbox", "virtualbox"),
    ("mitchellh.vmware", "vmware"),
    ("mitchellh.vmware-esx", "vmware"),
    ("pearkes.digitalocean", "digitalocean"),
    ("packer.googlecompute", "google"),
    ("hashicorp.scaleway", "scaleway"),
    ("packer.parallels", "parallels"),
    ("MSOpenTech.hyperv", "hyperv"),
    ("transcend.qemu", "libvirt"),
    ("ustream.lxc", "lxc"),
    ("Azure.ResourceManagement.VMImage", "azure"),
    ("packer.post-processor.docker-import", "docker"),
    ("packer.post-processor.docker-tag", "docker"),
    ("packer.post-processor.docker-push", "docker"),
];

/// The providers kiln makes boxes for; the rest of Packer's wait for their builders.
pub const AVAILABLE: &[&str] = &["libvirt"];

/// The artifice post-processor's builder id: its artifacts name no provider.
const ARTIFICE: &str = "packer.post-processor.artifice";

/// The provider for an artifact, by its builder id.
pub fn for_builder_id(builder_id: &str) -> Result<&'static str, String> {
    if let Some((_, provider)) = BUILTINS.iter().find(|(id, _)| *id == builder_id) {
        return Ok(provider);
    }
    let mut message = format!("Unknown artifact type, can't build box: {builder_id}");
    if builder_id == ARTIFICE {
        // Packer's words for this case, which its own lookup never reaches.
        message.push_str(
            "\nWhen using an artifact created by the artifice post-processor, you need to set \
             the provider_override option.",
        );
    }
    Err(message)
}

/// Every provider Packer knows, sorted (Packer lists them in Go's random map order).
pub fn known() -> Vec<&'static str> {
    let mut all: Vec<&str> = BUILTINS.iter().map(|(_, p)| *p).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Packer's check of `provider_override`, then whether kiln can make that box.
pub fn check_override(name: &str) -> Result<(), String> {
    let known = known();
    if !known.contains(&name) {
        return Err(format!(
            "The given provider_override {name} is not valid. Please choose from one of {}",
            known.join(", ")
        ));
    }
    check_available(name)
}

/// Whether kiln can make a box for `provider` (one of Packer's).
pub fn check_available(provider: &str) -> Result<(), String> {
    if AVAILABLE.contains(&provider) {
        Ok(())
    } else {
        Err(format!(
            "Vagrant boxes for the '{provider}' provider are not available in kiln yet: it makes \
             {} boxes (from qemu builds)",
            AVAILABLE
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_ids_map_to_packers_providers() {
        assert_eq!(for_builder_id("transcend.qemu"), Ok("libvirt"));
        assert_eq!(for_builder_id("mitchellh.virtualbox"), Ok("virtualbox"));
        assert_eq!(for_builder_id("mitchellh.vmware-esx"), Ok("vmware"));
        assert_eq!(
            for_builder_id("kiln.null").unwrap_err(),
            "Unknown artifact type, can't build box: kiln.null"
        );
        let artifice = for_builder_id(ARTIFICE).unwrap_err();
        assert!(
            artifice.starts_with(
                "Unknown artifact type, can't build box: packer.post-processor.artifice\n"
            ) && artifice.contains("you need to set the provider_override option"),
            "{artifice}"
        );
    }

    #[test]
    fn provider_override_is_checked_as_packer_does_then_for_availability() {
        assert_eq!(check_override("libvirt"), Ok(()));
        assert_eq!(
            check_override("libvrt").unwrap_err(),
            "The given provider_override libvrt is not valid. Please choose from one of aws, \
             azure, digitalocean, docker, google, hyperv, libvirt, lxc, parallels, scaleway, \
             virtualbox, vmware"
        );
        assert_eq!(
            check_override("virtualbox").unwrap_err(),
            "Vagrant boxes for the 'virtualbox' provider are not available in kiln yet: it makes \
             'libvirt' boxes (from qemu builds)"
        );
    }
}
