"""Blueprints, one per module; each module exports `bp`."""
