"""The installer workflow of examples/debian-preseed, prepared in a work directory so that kiln
and Packer 1.6.6 run exactly the same build: scripts/slow/installer-preseed runs it with kiln,
scripts/bench/qemu-builds with both.

What differs from the example, and why:
- the installer ISO is the fixture built from Debian's netboot package
  (scripts/fixtures/debian-installer-iso), not the netinst ISO from cdimage.debian.org, which
  these machines cannot reach;
- preseed.cfg gains a `preseed/early_command` that runs install.sh (beside this file, served by
  the build's HTTP server): the mirror reachable here answers 404 for the installer's own
  components, so install.sh performs the preseed's install from regular .debs;
- the password is a longer one than `vagrant`, because kiln redacts it everywhere and the
  word vagrant is also the user's name;
- a 4 GiB disk instead of 20 GiB (cleanup.sh zeroes the free space, which under software
  emulation takes minutes per GiB), 1.5 GiB of memory (the installer holds the package index and
  the kernel's .deb in RAM), `accelerator: tcg` (KVM hangs Linux guests here), the first serial
  port logged to serial.log, `ssh_timeout` 100m rather than the example's 30m (the install takes
  about 35 minutes under software emulation, the example's figure is for KVM), and no
  post-processors (the Vagrant box is another issue's).
"""
import json
import os
import re
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
ISO = os.path.join(ROOT, "target/fixtures/debian-12-netboot.iso")
EXAMPLE = os.path.join(ROOT, "examples/debian-preseed")
PASSWORD = "vagrant-installer-slow"
BUILD = "debian-qemu"

# preseed/early_command: the HTTP server's address is the one preseed/url on the kernel command
# line names. No backslashes: debconf would eat them.
EARLY_COMMAND = (
    "for word in $(cat /proc/cmdline); do case $word in preseed/url=*) url=${word#preseed/url=};; "
    "esac; done; wget -q -O /tmp/kiln-install.sh ${url%/*}/install.sh && sh /tmp/kiln-install.sh"
)


def sha256(path):
    out = subprocess.run(["sha256sum", path], stdout=subprocess.PIPE, check=True).stdout
    return out.decode().split()[0]


def prepare(work):
    """Writes template.json, http/ and scripts/ into `work`; returns the template's path."""
    if not os.path.exists(ISO):
        raise SystemExit(f"{ISO} is missing: run scripts/fixtures/debian-installer-iso as root")
    shutil.copytree(os.path.join(EXAMPLE, "scripts"), os.path.join(work, "scripts"))
    http = os.path.join(work, "http")
    os.makedirs(http)
    with open(os.path.join(EXAMPLE, "http", "preseed.cfg")) as f:
        preseed = f.read()
    preseed, n = re.subn(r"^(d-i passwd/user-password(?:-again)? password) .*$",
                         rf"\1 {PASSWORD}", preseed, flags=re.M)
    assert n == 2, "the example's preseed no longer sets passwd/user-password(-again)"
    preseed += f"\n### kiln's slow test: the install itself, from regular .debs\n"
    preseed += f"d-i preseed/early_command string {EARLY_COMMAND}\n"
    with open(os.path.join(http, "preseed.cfg"), "w") as f:
        f.write(preseed)
    shutil.copy(os.path.join(HERE, "install.sh"), os.path.join(http, "install.sh"))

    with open(os.path.join(EXAMPLE, "template.json")) as f:
        example = json.load(f)
    variables = dict(example["variables"], iso_url=ISO, iso_checksum="sha256:" + sha256(ISO),
                     ssh_password=PASSWORD, disk_size="4096", memory="1536")
    builder = next(b for b in example["builders"] if b["name"] == BUILD)
    builder = dict(builder, accelerator="tcg", ssh_timeout="100m",
                   qemuargs=[["-serial", "file:" + os.path.join(work, "serial.log")]])
    # Only the qemu build is kept: `only`/`except` may name no other (Packer checks that too).
    provisioners = []
    for provisioner in example["provisioners"]:
        provisioner = dict(provisioner)
        for key in ("only", "except"):
            if key in provisioner:
                provisioner[key] = [name for name in provisioner[key] if name == BUILD]
                if not provisioner[key]:
                    del provisioner[key]
        provisioners.append(provisioner)
    template = {
        "variables": variables,
        "sensitive-variables": example.get("sensitive-variables", []),
        "builders": [builder],
        "provisioners": provisioners,
    }
    path = os.path.join(work, "template.json")
    with open(path, "w") as f:
        json.dump(template, f, indent=2)
    return path


def output_disk(work):
    """The image the build leaves: output-<name>/<vm_name>."""
    with open(os.path.join(work, "template.json")) as f:
        template = json.load(f)
    version = template["variables"]["debian_version"]
    return os.path.join(work, f"output-{BUILD}", f"debian-{version}-amd64.qcow2")
