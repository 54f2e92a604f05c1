"""Benchmarks on labelled folders (`docfuse eval`, `bench/`), not a use case.

Workers and the UI never import this package: it reads data sets from disk and scores the
whole pipeline against their labels, in a throwaway data dir.
"""
