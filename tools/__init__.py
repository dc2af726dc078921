"""Repository tools (generators run by hand or by tests; nothing here is deployed)."""
