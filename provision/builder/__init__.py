"""Per-profile binhost builder: build roots, passes, the state machine, publication.

The public control surface for the server and the commands (everything else in this package is
the builder's own): the state record and the two admin actions that change it.  The read side of
what was published is provision.snapshots; the signing key is provision.signing.
"""

from __future__ import annotations

from provision.builder.state import Phase, ProfileState, hold, load_state, trigger

__all__ = ["Phase", "ProfileState", "hold", "load_state", "trigger"]
