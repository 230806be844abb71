"""provision: fleet provisioning for Gentoo."""

__version__ = "0.1.0"
