"""hookstack's Pulumi components and the pure modules they are built from.

``config``, ``plan``, ``specs``, ``policy_documents`` and ``provider_policies`` never import ``pulumi``
(the sandbox uses some of them too); the component modules (``provider``, ``consumer``, ``delivery``,
``aurora``) and their parts do.
"""
