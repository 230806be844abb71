"""Per-profile binhost builder: build roots, passes, the state machine, publication.

The public control surface for the server and the commands (everything else in this package is
the builder's own): the state record, the two admin actions that change it, and build.toml's
settings (the farm reads its timing there).  The read side of
what was published is provision.snapshots; the signing key is provision.signing.
"""

from __future__ import annotations

from provision.builder.settings import BuildSettings, FarmTuning
from provision.builder.settings import load_settings as load_build_settings
from provision.builder.state import Phase, ProfileState, hold, load_state, trigger

__all__ = [
    "BuildSettings",
    "FarmTuning",
    "Phase",
    "ProfileState",
    "hold",
    "load_build_settings",
    "load_state",
    "trigger",
]
