"""Operations tool for hookstack's outgoing webhooks (``python -m ops --help``).

- ``status``: connections (``ConnectionState``), API destinations (``ApiDestinationState``), rules,
  the archive, the dead-letter queue and firing alarms of one stack; exit 1 when deliveries are
  blocked (for cron / CI).
- ``redrive``: dead-lettered events sent again, each only to the rule that dead-lettered it (a
  marker only that rule accepts), from the queue as it was at the start, stopping by itself; a dry
  run unless ``--execute``, and a message is deleted only after its event was accepted.
- ``replay start|status|cancel|list``: archive replays for a time window, optionally limited to
  rules.
- ``reauthorize``: ``UpdateConnection`` with a credential read from stdin.
- ``inbound redrive``: the inbound FIFO dead-letter queue's messages moved back into their message
  groups of the FIFO queue, in order, from the queue as it was at the start; a dry run unless
  ``--execute``. ``replay start --inbound-source`` replays inbound events to the rules taking them.

It works from the stack outputs (``pulumi stack output --json``) and boto3 only; ``--endpoint-url``
points it at a moto server or the local sandbox. The operator's guide is ``docs/runbook.md``.
"""
