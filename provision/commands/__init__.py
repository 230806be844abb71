"""Subcommands.  Each module defines register(subparsers) and sets func(ctx, args) -> int."""
