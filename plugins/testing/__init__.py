"""Tiny random-weight checkpoints (diffusers, transformers, open_clip) for tests and benchmarks."""
