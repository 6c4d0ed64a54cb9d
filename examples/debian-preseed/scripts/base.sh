#!/bin/sh
# Bring the freshly installed system up to date and add the basics every box needs.
set -eux

export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade
apt-get -y install --no-install-recommends \
    ca-certificates curl rsync sudo openssh-server

# Don't wait for a reverse DNS lookup on every SSH login.
mkdir -p /etc/ssh/sshd_config.d
printf 'UseDNS no\n' > /etc/ssh/sshd_config.d/10-usedns.conf

# Boot without the five-second GRUB menu.
sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' /etc/default/grub
update-grub
