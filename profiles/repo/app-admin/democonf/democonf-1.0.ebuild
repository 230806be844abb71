# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: installs config files under /etc (CONFIG_PROTECT)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"

src_install() {
	insinto /etc/democonf
	doins "${FILESDIR}"/main.conf "${FILESDIR}"/logging.conf "${FILESDIR}"/users.conf
}
