"""Protocols: how a kind of task is evaluated. Each module offers ``grid`` and ``run_cell``."""
