#!/bin/sh
# Runs inside the Debian installer as the preseed's `preseed/early_command`, for
# scripts/slow/installer-preseed, and performs the install that preseed.cfg describes (one ext4
# root partition on the first disk, no swap, openssh-server and sudo, the preseed's user with
# passwordless sudo, GRUB on the disk, a serial console), then reboots into it.
#
# Why: the Debian mirror reachable from kiln's test machines serves every .deb but answers 404
# for most installer components (.udeb), so the stock installer stops at "Download installer
# components". Everything here comes from regular .debs of that mirror instead: the installer's
# own busybox (wget, ar, xzcat, tar, awk, modprobe) fetches the kernel's disk and ext4 modules,
# sfdisk, mke2fs, perl and debootstrap, unpacks them under /tmp, and runs them. The installer
# ISO, the typed boot command, the preseed fetched from kiln's HTTP server, the mirror and the
# SSH hand-over stay real.
#
# The mirror, the user and the password are read from the preseed (debconf); the output goes to
# the first serial port, which the slow script logs to a file.
set -eu

exec >/dev/ttyS0 2>&1
step() { echo "kiln-install: $(date +%H:%M:%S) $*"; }
fail() {
  echo "kiln-install: error: $*"
  exit 1
}
# Any failure, also one `set -e` stops at, ends with an error line the slow script looks for.
trap 'status=$?; [ "$status" = 0 ] || echo "kiln-install: error: stopped with exit status $status"' EXIT
answer() { debconf-get "$1" 2>/dev/null || true; }

host=$(answer mirror/http/hostname)
directory=$(answer mirror/http/directory)
mirror="http://${host:-deb.debian.org}${directory:-/debian}"
user=$(answer passwd/username)
user=${user:-vagrant}
password=$(answer passwd/user-password)
[ -n "$password" ] || fail "the preseed sets no passwd/user-password"
# The answers are read through debconf on stdin; nothing after this may talk to the installer.
exec </dev/null
suite=bookworm
kernel=$(uname -r)
tools=/tmp/kiln-tools
target=/target
mkdir -p "$tools/debs" "$target"

step "package index of $suite from $mirror"
wget -q -O - "$mirror/dists/$suite/main/binary-amd64/Packages.xz" | xzcat >/tmp/Packages

# fetch PACKAGE: downloads PACKAGE's .deb into $tools/debs.
fetch() {
  path=$(awk -v want="$1" '/^Package: /{hit = ($2 == want)} hit && /^Filename: /{print $2; exit}' /tmp/Packages)
  [ -n "$path" ] || fail "$suite has no package $1"
  wget -q -O "$tools/debs/$1.deb" "$mirror/$path"
}
# unpack PACKAGE DIRECTORY [MEMBER...]: unpacks the fetched PACKAGE (or only MEMBERs) there.
unpack() {
  deb="$tools/debs/$1.deb"
  into=$2
  shift 2
  member=$(ar -t "$deb" | grep '^data\.tar')
  case $member in
    data.tar.xz) ar -p "$deb" "$member" | xzcat | tar -x -C "$into" -f - "$@" ;;
    data.tar.gz) ar -p "$deb" "$member" | gunzip -c | tar -x -C "$into" -f - "$@" ;;
    *) fail "$1: cannot unpack its $member" ;;
  esac
}

step "disk and ext4 modules for the installer's kernel $kernel"
fetch "linux-image-$kernel"
modules="kernel/drivers/block/virtio_blk.ko kernel/fs/jbd2/jbd2.ko kernel/fs/ext4/ext4.ko"
members=""
for module in $modules; do members="$members ./lib/modules/$kernel/$module"; done
# shellcheck disable=SC2086 # one member per word
unpack "linux-image-$kernel" / $members
rm "$tools/debs/linux-image-$kernel.deb"
depmod -a
modprobe virtio_blk
modprobe ext4
sleep 2
disk=""
for candidate in /dev/vda /dev/sda; do
  if [ -b "$candidate" ]; then
    disk=$candidate
    break
  fi
done
[ -n "$disk" ] || fail "no disk: neither /dev/vda nor /dev/sda"

step "sfdisk, mke2fs, perl and debootstrap"
for package in fdisk libfdisk1 libsmartcols1 libmount1 e2fsprogs libext2fs2 libcom-err2 libss2 \
  perl-base debootstrap; do
  fetch "$package"
  unpack "$package" "$tools" || fail "unpacking $package failed"
done
export PATH="$tools/usr/sbin:$tools/usr/bin:$tools/sbin:$tools/bin:$PATH"
export LD_LIBRARY_PATH="$tools/lib/x86_64-linux-gnu:$tools/usr/lib/x86_64-linux-gnu"
export PERL5LIB="$tools/usr/lib/x86_64-linux-gnu/perl-base"
export MKE2FS_CONFIG="$tools/etc/mke2fs.conf"
export DEBOOTSTRAP_DIR="$tools/usr/share/debootstrap"
# debootstrap runs its chroot commands with PATH=/sbin:/usr/sbin:/bin:/usr/bin in front of
# `eval`, which busybox's shell keeps for the rest of the script: perl must be on that PATH.
ln -sf "$tools/usr/bin/perl" /usr/bin/perl

step "partitioning $disk: MBR, one bootable ext4 root partition"
printf 'label: dos\nstart=1MiB, type=83, bootable\n' | sfdisk --quiet "$disk"
blockdev --rereadpt "$disk" || true
partition="${disk}1"
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ -b "$partition" ] && break
  sleep 1
done
[ -b "$partition" ] || fail "$partition did not appear"
mke2fs -q -t ext4 "$partition"
mount -t ext4 "$partition" "$target"

step "debootstrap $suite"
# A clean environment: the installer's debconf variables (DEBIAN_HAS_FRONTEND, DEBCONF_REDIR)
# would have every maintainer script in the new system talk to the installer's frontend, and hang.
env -i PATH="$PATH" LD_LIBRARY_PATH="$LD_LIBRARY_PATH" PERL5LIB="$PERL5LIB" \
  DEBOOTSTRAP_DIR="$DEBOOTSTRAP_DIR" HOME=/root DEBIAN_FRONTEND=noninteractive \
  debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
  "$suite" "$target" "$mirror" </dev/null || {
  tail -n 30 "$target/debootstrap/debootstrap.log" 2>/dev/null || true
  fail "debootstrap failed"
}

step "configuring the system"
cat >"$target/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://security.debian.org/debian-security $suite-security main
EOF
printf '#!/bin/sh\nexit 101\n' >"$target/usr/sbin/policy-rc.d" # no daemons in the chroot
chmod 0755 "$target/usr/sbin/policy-rc.d"
hostname=$(answer netcfg/get_hostname)
echo "${hostname:-debian}" >"$target/etc/hostname"
mount -o bind /dev "$target/dev"
mount -t proc proc "$target/proc"
mount -t sysfs sysfs "$target/sys"
in_target() {
  chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
uuid=$(in_target blkid -s UUID -o value "$partition")
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$target/etc/fstab"

step "installing the kernel, GRUB, openssh-server and sudo"
in_target apt-get -q update
in_target apt-get -y -q --no-install-recommends install linux-image-amd64 grub-pc \
  systemd-sysv udev dbus libpam-systemd systemd-resolved iproute2 netbase openssh-server sudo

step "the user $user, networking, GRUB on $disk"
in_target useradd --create-home --shell /bin/bash --groups sudo "$user"
echo "$user:$password" | in_target chpasswd
in_target passwd --lock root
# What the preseed's late_command does: passwordless sudo.
echo "$user ALL=(ALL) NOPASSWD: ALL" >"$target/etc/sudoers.d/$user"
chmod 0440 "$target/etc/sudoers.d/$user"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$target/etc/systemd/network/80-dhcp.network"
in_target systemctl enable systemd-networkd.service systemd-resolved.service ssh.service
# What the preseed's debian-installer/add-kernel-opts asks for: a serial console too.
sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT="console=tty0 console=ttyS0,115200"/' \
  "$target/etc/default/grub"
in_target grub-install "$disk"
in_target update-grub
rm "$target/usr/sbin/policy-rc.d"
in_target apt-get clean

step "done: rebooting into the installed system"
umount "$target/sys" "$target/proc" "$target/dev"
umount "$target"
sync
reboot -f
