"""Pulumi-free specs: the values a component and the sandbox both derive from the config."""
