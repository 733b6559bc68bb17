"""Pulumi mock-engine harness (filled in by the foundation work)."""
