"""Benchmarks run by hand (not part of the test run); see README "Benchmark"."""
