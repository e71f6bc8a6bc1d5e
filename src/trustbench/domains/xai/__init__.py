"""Explainable-AI benchmark: data with known ground-truth feature importance, suppressors included."""
