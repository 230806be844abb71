# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

DESCRIPTION="Demo: base layout of a demo system (@system)"
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
}
