# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: other half of the cycle; USE=extras needs cyc-a at build time"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
IUSE="+extras"
S="${WORKDIR}"
DEPEND="extras? ( dev-libs/cyc-a )"
RDEPEND="${DEPEND}"

src_install() {
	insinto /usr/share/cyc-b
	newins - use <<< "$(usex extras extras plain)"
}
