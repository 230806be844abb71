"""Portage's gpkg-sign for many packages, then emaint's index, in one process:

    python -m provision.farm.gpkgsign [--index] FILE...   (in the Portage environment of a
                                                           root whose make.conf names the key)

The same calls as Portage's own `gpkg-sign --allow-unsigned FILE` (portage/bin/gpkg-sign):
`portage.gpkg.gpkg(settings, file)`, `request_signature = False`, `_verify_binpkg()`,
`update_signature()`; with --index, then what `emaint binhost --fix` runs
(`portage.emaint.modules.binhost.binhost.BinhostHandler().fix()`) on PKGDIR.  Only the
interpreter start and Portage's import (most of gpkg-sign's ~0.2 s per package, most of
emaint's ~0.5 s) are paid once per pass.
"""

from __future__ import annotations

import sys


def main(args: list[str]) -> int:
    index = "--index" in args
    files = [a for a in args if a != "--index"]
    import portage
    import portage.exception

    portage._internal_caller = True
    from portage import gpkg

    settings = portage.settings
    for key in ("BINPKG_GPG_SIGNING_GPG_HOME", "BINPKG_GPG_SIGNING_KEY"):
        if not settings.get(key):
            print(f"gpkgsign: {key} is not set", file=sys.stderr)
            return 1
    for path in files:
        try:
            package = gpkg.gpkg(settings=settings, gpkg_file=path)
            package.request_signature = False
            package._verify_binpkg()
            package.update_signature(keep_current_signature=False)
        except portage.exception.PortageException as exc:
            print(f"gpkgsign: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"{path} signed.", flush=True)
    if index:
        from portage.emaint.modules.binhost.binhost import BinhostHandler

        ok, messages = BinhostHandler().fix()
        if not ok:
            print(f"gpkgsign: emaint binhost: {messages}", file=sys.stderr)
            return 1
        print(f"{settings['PKGDIR']}: indexed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
