"""Dated studies: one-off measurements and analyses whose results are in docs/research-log.md and
benchmarks/results/. They may use the tools of benchmarks/; the tools never import them."""
