"""Explanation methods for neural networks (attributions and signal estimates)."""

__all__: list[str] = []
