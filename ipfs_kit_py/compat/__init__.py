"""Patches of dependencies' internals, each version-guarded and applied once."""
