# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: base layout of a demo system (@system), with an init that proves the install"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"

src_install() {
	insinto /etc
	newins - demo-release <<-EOF
		NAME="provision demo"
		ID=provision-demo
	EOF
	keepdir /var/lib/demo
	# The demo system's init: says on the console what was installed, then powers off.
	exeinto /sbin
	newexe - init <<-'EOF'
		#!/bin/sh
		# provision demo init (sys-apps/demo-base)
		mount -t proc proc /proc 2>/dev/null
		mount -t sysfs sysfs /sys 2>/dev/null
		echo "PROVISION-INSTALLED hostname=$(cat /etc/hostname 2>/dev/null)"
		# Secure Boot: the kernel's lockdown, and the firmware's variable when efivarfs mounts
		mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
		[ -r /sys/kernel/security/lockdown ] &&
			echo "PROVISION-INSTALLED lockdown=$(cat /sys/kernel/security/lockdown)"
		sb=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
		if [ -d /sys/firmware/efi ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null &&
			[ -r "${sb}" ]; then
			echo "PROVISION-INSTALLED efivar SecureBoot $(od -An -tx1 -v "${sb}" | tr -d ' \n')"
		fi
		for pkg in /var/db/pkg/*/*; do
			echo "PROVISION-INSTALLED package=${pkg#/var/db/pkg/}"
		done
		echo "PROVISION-INSTALLED done"
		sync
		# Power off, then wait with shell builtins only: sysrq-o shuts the disk down
		# while we wait, and an exec from it (sleep) would fail and panic the kernel.
		echo o > /proc/sysrq-trigger
		while :; do :; done
	EOF
}
