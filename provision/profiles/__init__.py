"""Profiles: a hardware class described in TOML, loaded into typed models.

The names below are loaded on first use (PEP 562), so that `provision.profiles.files` (which
profiles exist) stays cheap for commands that only list them: the loader brings tomllib and
the validators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provision.profiles.load import ProfileSet, load_profile, load_profiles
    from provision.profiles.model import Profile

__all__ = ["Profile", "ProfileSet", "load_profile", "load_profiles"]


def __getattr__(name: str) -> object:
    if name in ("ProfileSet", "load_profile", "load_profiles"):
        from provision.profiles import load

        return getattr(load, name)
    if name == "Profile":
        from provision.profiles.model import Profile

        return Profile
    raise AttributeError(f"module 'provision.profiles' has no attribute {name!r}")
