"""Pulumi-free specs: the values a component and the sandbox derive from the config, computed once."""
