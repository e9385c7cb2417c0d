"""Metric functions: each takes an engine and plain filters and returns a DataFrame."""
