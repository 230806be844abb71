# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8
inherit demo-c

DESCRIPTION="Demo: a program whose ELF ABI note requires Linux 6.9 (for the kernel ABI check)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"

src_compile() {
	demo-c_cc kernel-hungry hungry.c
}

src_install() {
	dobin kernel-hungry
}
