"""Operator and developer tools: local stack, demo, device simulation, benchmarks."""
