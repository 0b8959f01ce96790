"""Evals: scenario suites with their runner, graders and reports; transcript export and replay."""
