# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: the profile's kernel package (config from FILESDIR and the profile's fragments)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"

# Like sys-kernel/gentoo-kernel: fragments in /etc/kernel/config.d/*.config are appended.
src_compile() {
	cp "${FILESDIR}"/config-base .config || die
	local frag
	for frag in "${EPREFIX}"/etc/kernel/config.d/*.config; do
		[[ -f ${frag} ]] && { cat "${frag}" >> .config || die; }
	done
}

src_install() {
	insinto /boot
	newins .config config-${PV}-demo
}
