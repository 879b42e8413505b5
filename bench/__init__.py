"""Benchmarks: each runs our code beside a real peer or the physical floor, in the same run."""
