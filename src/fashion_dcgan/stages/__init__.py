"""Thin DVC stage entry points: each reads params.yaml and wires library code to paths."""
