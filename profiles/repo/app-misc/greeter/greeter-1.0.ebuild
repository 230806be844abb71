# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8
inherit demo-c

DESCRIPTION="Demo: a program linked against libgreet"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
DEPEND="dev-libs/libgreet:="
RDEPEND="${DEPEND}"

src_compile() {
	demo-c_cc greeter greeter.c -I"${ESYSROOT}"/usr/include -L"${ESYSROOT}"/usr/$(get_libdir) \
		-Wl,-rpath,"${EPREFIX}"/usr/$(get_libdir) -lgreet
}

src_install() {
	dobin greeter
}
