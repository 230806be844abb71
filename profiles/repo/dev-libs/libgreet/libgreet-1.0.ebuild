# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8
inherit demo-c

DESCRIPTION="Demo: a shared library with a soname that other packages link"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
# The subslot follows the soname major: a bump rebuilds consumers (:= deps).
SONAME_MAJOR=1
SLOT="0/${SONAME_MAJOR}"
KEYWORDS="amd64"

src_compile() {
	demo-c_cc libgreet.so.${SONAME_MAJOR} -shared -fPIC -DGREET_ABI=${SONAME_MAJOR} \
		-Wl,-soname,libgreet.so.${SONAME_MAJOR} greet.c
}

src_install() {
	dolib.so libgreet.so.${SONAME_MAJOR}
	dosym libgreet.so.${SONAME_MAJOR} /usr/$(get_libdir)/libgreet.so
	doheader greet.h
}
