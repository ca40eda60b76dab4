"""Helpers the tests and benchmarks share: real servers on loopback, paths to shared data."""
