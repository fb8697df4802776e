"""Plumbing of the lab driver: running commands, SSH, progress lines (lab/__init__.py has the module map)."""
