"""Profiles: a hardware class described in TOML, loaded into typed models."""

from provision.profiles.load import ProfileSet, load_profile, load_profiles
from provision.profiles.model import Profile

__all__ = ["Profile", "ProfileSet", "load_profile", "load_profiles"]
