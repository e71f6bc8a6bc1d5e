"""Problem areas: one subpackage per domain (its simulator or loader, tasks, own methods, Benchmark, README).

Generic code never imports a domain; a domain imports generic code.
"""

__all__: list[str] = []
