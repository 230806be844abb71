# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: one half of a USE-conditional dependency cycle (needs cyc-b to build)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"
DEPEND="dev-libs/cyc-b"
RDEPEND="${DEPEND}"

src_install() {
	insinto /usr/share/cyc-a
	newins - built-with <<< "cyc-b"
}
