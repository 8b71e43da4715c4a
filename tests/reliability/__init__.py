"""Reliability suite: faults, hostile input, untrusted files, load and determinism (issue 9)."""
