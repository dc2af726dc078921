"""Kept for ``components.config``, which measures the ingest environment before any resource is
declared: the measure is the consumer spec's (:mod:`components.specs.consumer`), imported from there."""

from __future__ import annotations

from components.specs.consumer import CONSUMER_NAME, environment_problem

__all__ = ["CONSUMER_NAME", "environment_problem"]
