# Copyright 2026 provision authors
# Distributed under the terms of the GNU General Public License v2

# @ECLASS: secureboot.eclass
# @SUPPORTED_EAPIS: 8
# @BLURB: sign EFI images for Secure Boot (the demo repository's copy of ::gentoo's interface)
# @DESCRIPTION:
# The same interface as ::gentoo's secureboot.eclass: with USE=secureboot, packages sign their
# EFI executables (kernels, boot loaders) with the key and certificate the admin names in
# make.conf, SECUREBOOT_SIGN_KEY and SECUREBOOT_SIGN_CERT (provision's builder sets them to the
# server's Secure Boot key for profiles with secure_boot = true).  ::gentoo's eclass also
# depends on app-crypt/sbsigntools; the demo repository has no such package, so sbsign must
# be in the build root (provision's stand-in stage carries Debian's sbsigntool).

case ${EAPI} in
	8) ;;
	*) die "${ECLASS}: EAPI ${EAPI:-0} not supported" ;;
esac

IUSE="secureboot"

# @FUNCTION: secureboot_pkg_setup
# @DESCRIPTION: with USE=secureboot, the key and certificate must be set and readable
secureboot_pkg_setup() {
	use secureboot || return
	[[ -n ${SECUREBOOT_SIGN_KEY} && -n ${SECUREBOOT_SIGN_CERT} ]] ||
		die "USE=secureboot needs SECUREBOOT_SIGN_KEY and SECUREBOOT_SIGN_CERT in make.conf"
	[[ -r ${SECUREBOOT_SIGN_KEY} ]] || die "cannot read SECUREBOOT_SIGN_KEY=${SECUREBOOT_SIGN_KEY}"
	[[ -r ${SECUREBOOT_SIGN_CERT} ]] || die "cannot read SECUREBOOT_SIGN_CERT=${SECUREBOOT_SIGN_CERT}"
	type -P sbsign >/dev/null || die "sbsign not found (app-crypt/sbsigntools; Debian: sbsigntool)"
}

# @FUNCTION: secureboot_sign_efi_file
# @USAGE: <input file> [<output file>]
# @DESCRIPTION: sign one EFI image (in place when no output file is given)
secureboot_sign_efi_file() {
	use secureboot || return
	local input=${1} output=${2:-${1}}
	einfo "Signing ${input#${ED}} for Secure Boot with ${SECUREBOOT_SIGN_CERT}"
	sbsign --key "${SECUREBOOT_SIGN_KEY}" --cert "${SECUREBOOT_SIGN_CERT}" \
		--output "${output}.signed" "${input}" || die "sbsign ${input} failed"
	mv "${output}.signed" "${output}" || die
}

EXPORT_FUNCTIONS pkg_setup
