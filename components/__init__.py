"""hookstack's Pulumi components and the pure modules they are built from.

``config`` and ``plan`` never import ``pulumi`` (the sandbox uses them too); the component modules
(``provider``, ``consumer``, ``delivery``, ``aurora``) do.
"""
