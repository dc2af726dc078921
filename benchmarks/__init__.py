"""Benchmarks: each script measures one thing and writes its figures to docs/benchmarks/."""
