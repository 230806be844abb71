"""etc-merge: settle Portage's ._cfg config updates by a policy, from three versions.

Modules: target (ROOT/EPREFIX, CONFIG_PROTECT), scan (._cfg files), record (last shipped),
decide (the pure decision), merge (diff3), plan, apply (thin appliers), archive (+ undo),
guided (terminal UI), report (JSON, POST), session (one run), policy (loading).
"""
