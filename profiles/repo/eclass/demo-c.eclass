# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

# @ECLASS: demo-c.eclass
# @SUPPORTED_EAPIS: 8
# @BLURB: build the demo packages' C sources from FILESDIR (nothing is downloaded)

case ${EAPI} in
	8) ;;
	*) die "${ECLASS}: EAPI ${EAPI:-0} not supported" ;;
esac

S="${WORKDIR}/${P}"

demo-c_src_unpack() {
	mkdir -p "${S}" || die
	cp -r "${FILESDIR}"/. "${S}"/ || die
}

# @FUNCTION: demo-c_cc
# @USAGE: <output> <sources and flags...>
# @DESCRIPTION: compile and link with the user's CC, CFLAGS and LDFLAGS
demo-c_cc() {
	local out=$1; shift
	echo "${CC:-gcc} ${CFLAGS} ${LDFLAGS} -o ${out} $*"
	${CC:-gcc} ${CFLAGS} ${LDFLAGS} -o "${out}" "$@" || die "compiling ${out} failed"
}

EXPORT_FUNCTIONS src_unpack
