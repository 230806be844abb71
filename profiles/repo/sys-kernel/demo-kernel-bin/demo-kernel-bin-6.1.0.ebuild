# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

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
}
