#!/bin/sh
# Make the box usable by Vagrant: passwordless sudo and the insecure key,
# which Vagrant swaps for a fresh key pair on first `vagrant up`.
set -eux

VAGRANT_USER=vagrant
VAGRANT_HOME=$(getent passwd "$VAGRANT_USER" | cut -d: -f6)

printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$VAGRANT_USER" > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
visudo -cf /etc/sudoers.d/vagrant

# The well-known insecure public key from hashicorp/vagrant keys/vagrant.pub.
install -d -m 0700 -o "$VAGRANT_USER" -g "$VAGRANT_USER" "$VAGRANT_HOME/.ssh"
cat > "$VAGRANT_HOME/.ssh/authorized_keys" <<'KEY'
ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key
KEY
chown "$VAGRANT_USER:$VAGRANT_USER" "$VAGRANT_HOME/.ssh/authorized_keys"
chmod 0600 "$VAGRANT_HOME/.ssh/authorized_keys"
