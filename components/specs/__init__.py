"""Pulumi-free specs: every value a component derives from its configuration, shared with the sandbox."""
