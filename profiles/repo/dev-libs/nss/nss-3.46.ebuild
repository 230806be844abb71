# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: a library with a stable and an unstable (keyword-masked) version"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="~amd64"
S="${WORKDIR}"

src_install() {
	insinto /usr/share/nss
	newins - version <<< "${PV}"
}
