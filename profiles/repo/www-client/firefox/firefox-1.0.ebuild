# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: an unstable program that needs the newest (unstable) nss (the seeds' case)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="~amd64"
S="${WORKDIR}"
RDEPEND=">=dev-libs/nss-3.46"

src_install() {
	insinto /usr/share/firefox
	newins - needs <<< "nss-3.46"
}
