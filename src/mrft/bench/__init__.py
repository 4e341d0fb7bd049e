"""Benchmark protocol pieces: metrics over adaptation curves (more to come: suites, runner, report)."""
