# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8
inherit demo-c

DESCRIPTION="Demo: a plain C program"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"

src_compile() {
	demo-c_cc hello hello.c
}

src_install() {
	dobin hello
}
