# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

inherit secureboot

DESCRIPTION="Demo: a prebuilt kernel and its initramfs (like sys-kernel/gentoo-kernel-bin)"
HOMEPAGE="https://example.invalid/provision"
SRC_URI="${P}.vmlinuz ${P}.initrd"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
# Nothing can be downloaded: the admin provides the files (provision: build.toml [distfiles]).
RESTRICT="fetch mirror strip binchecks"
S="${WORKDIR}"

pkg_nofetch() {
	einfo "Place a kernel image as ${DISTDIR}/${P}.vmlinuz and its initramfs as"
	einfo "${DISTDIR}/${P}.initrd (provision: [distfiles.\"${CATEGORY}/${PN}\"] in build.toml)."
}

src_unpack() { :; }

src_install() {
	insinto /boot
	newins "${DISTDIR}/${P}.vmlinuz" "vmlinuz-${PV}-demo"
	newins "${DISTDIR}/${P}.initrd" "initramfs-${PV}-demo.img"
	if use secureboot; then
		# The distfile is a distribution's kernel, signed by the distribution (Debian): drop
		# those signatures, so that only our key vouches for it (a kernel built from source
		# has none).
		local image="${ED}/boot/vmlinuz-${PV}-demo"
		while sbattach --remove "${image}" >/dev/null 2>&1; do :; done
		secureboot_sign_efi_file "${image}"
	fi
}
