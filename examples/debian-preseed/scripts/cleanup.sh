#!/bin/sh
# Shrink the image and make every clone of it a distinct machine.
set -eux

export DEBIAN_FRONTEND=noninteractive

apt-get -y autoremove --purge
apt-get -y clean
rm -rf /var/lib/apt/lists/*

# An empty machine-id is regenerated on the next boot; dbus's copy follows it.
truncate -s 0 /etc/machine-id
if [ -d /var/lib/dbus ]; then
    rm -f /var/lib/dbus/machine-id
    ln -s /etc/machine-id /var/lib/dbus/machine-id
fi

# No leftover DHCP leases, logs or shell history in the image.
rm -f /var/lib/dhcp/*.leases
find /var/log -type f -exec truncate -s 0 {} +
rm -f /root/.bash_history /home/*/.bash_history

# Zero the free space so the disk image compresses well. dd stops with
# "No space left on device", which is the point, so its status is ignored.
dd if=/dev/zero of=/EMPTY bs=1M || true
rm -f /EMPTY
sync
