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
# @DESCRIPTION: compile each .c file (-c, so distcc can distribute it), then link, with the
# user's CC, CFLAGS and LDFLAGS
demo-c_cc() {
	local out=$1; shift
	local arg flags=() objs=()
	for arg in "$@"; do
		[[ ${arg} == *.c ]] || flags+=( "${arg}" )
	done
	for arg in "$@"; do
		[[ ${arg} == *.c ]] || continue
		echo "${CC:-gcc} ${CFLAGS} ${flags[*]} -c ${arg} -o ${arg%.c}.o"
		${CC:-gcc} ${CFLAGS} "${flags[@]}" -c "${arg}" -o "${arg%.c}.o" || die "compiling ${arg} failed"
		objs+=( "${arg%.c}.o" )
	done
	echo "${CC:-gcc} ${CFLAGS} ${LDFLAGS} -o ${out} ${objs[*]} ${flags[*]}"
	${CC:-gcc} ${CFLAGS} ${LDFLAGS} -o "${out}" "${objs[@]}" "${flags[@]}" || die "linking ${out} failed"
}

EXPORT_FUNCTIONS src_unpack
