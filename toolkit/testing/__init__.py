"""Conformance suites shipped for plugin authors: run them against your algorithm or verifier."""
