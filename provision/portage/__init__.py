"""Portage configuration: pure renderers and the prefix environment helpers."""
