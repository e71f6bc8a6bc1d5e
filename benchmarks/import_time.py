"""`import trustbench` in a fresh interpreter: its time (budget 1 s) and which heavy modules it loaded.

None of torch, jax, pandas, sqlalchemy, matplotlib, scipy.stats may be imported; the same holds for
`trustbench list methods`. Exit code 1 when over budget or when something heavy was imported.

    python benchmarks/import_time.py
"""

from __future__ import annotations

import json
import subprocess
import sys

BUDGET_S = 1.0
HEAVY = ("torch", "jax", "pandas", "sqlalchemy", "matplotlib", "scipy.stats")
PROBE = """
import json, sys, time
start = time.perf_counter()
{code}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""
LISTING = """
import contextlib, io
sys.argv = ["trustbench", "list", "methods"]
from trustbench.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
"""


def probe(code: str, repeats: int = 5) -> tuple[float, list[str]]:
    """Best of ``repeats`` fresh interpreters (the first pays for cold disk caches)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
                             capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return min(r["seconds"] for r in runs), sorted({m for r in runs for m in r["heavy"]})


def main() -> None:
    ok = True
    for label, code in (("import trustbench", "import trustbench"), ("trustbench list methods", LISTING)):
        seconds, heavy = probe(code)
        within = seconds < BUDGET_S and not heavy
        ok &= within
        print(f"{label:24s} {seconds:6.3f} s (budget {BUDGET_S:.1f} s, ratio {seconds / BUDGET_S:.2f}); "
              f"heavy modules: {', '.join(heavy) or 'none'}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
