"""The ``trustbench`` command: list what is registered, run suites, evaluate one method, report, export.

A thin shell over :mod:`trustbench.runner` and :mod:`trustbench.report`. Bad input (an unknown
name, a malformed suite, a bad option value) prints one red line and exits with code 2; a run
with failed cells exits with code 1 after storing everything else.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="trustbench",
    help="Standardized quality control of medical AI: run reference problems, methods, perturbations "
         "and metrics into one database, and report them.\n\n"
         "Start with `trustbench list`, then `trustbench run quick` (writes results/report).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)


class Kind(str, enum.Enum):
    tasks = "tasks"
    methods = "methods"
    metrics = "metrics"
    perturbations = "perturbations"
    explainers = "explainers"
    benchmarks = "benchmarks"


class Format(str, enum.Enum):
    csv = "csv"
    parquet = "parquet"


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True)


def _say(message: str, style: str, prefix: str = "") -> None:
    from rich.text import Text

    _console(stderr=True).print(Text(prefix, style=f"bold {style}") + Text(message, style=style))


def _bad_input_exits_2(fn: Callable) -> Callable:
    """Bad input (ValueError / TypeError from validation, a missing file) becomes one red line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, FileNotFoundError) as err:
            _say(str(err), "red", "error: ")
            raise typer.Exit(2) from None

    return wrapper


# --------------------------------------------------------------------------------------------
# list: names and first docstring lines, read from the source (no torch import)
# --------------------------------------------------------------------------------------------


def describe(kind: str, name: str) -> str:
    """One line about a registered thing (its modules import no torch or jax until used)."""
    from trustbench.registry import registry

    try:
        return registry(kind).describe(name)
    except (ValueError, TypeError) as err:
        return f"(cannot be loaded: {err})"


@app.command("list")
@_bad_input_exits_2
def list_(kind: Annotated[Kind | None, typer.Argument(help="What to list; everything when omitted.")] = None) -> None:
    """List registered tasks, methods, metrics, perturbations, explainers and benchmarks, with one line each."""
    from rich.table import Table

    from trustbench.registry import registry

    console = _console()
    for k in [kind] if kind else list(Kind):
        table = Table(title=k.value, title_justify="left", show_header=True)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("description")
        for name in registry(k.value).names():
            table.add_row(name, describe(k.value, name))
        console.print(table)


# --------------------------------------------------------------------------------------------
# run, report, export
# --------------------------------------------------------------------------------------------

DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL", help="Database URL (sqlite:///file, postgresql+psycopg://user@host/db) or a SQLite file. "
                 "[default: OUT/trustbench.sqlite]")]
OutOption = Annotated[Path, typer.Option("--out", metavar="DIR", help="Output folder: the report goes to OUT/report.")]


def _shown(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def _existing_db(db: str | None, out: Path) -> str:
    """The database URL, refusing a SQLite file that does not exist (nothing has been run)."""
    import sqlalchemy as sa

    from trustbench.runner.store import store_url

    url = store_url(db, out)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise ValueError(f"no database at {parsed.database}; run a suite first (`trustbench run quick`) or pass --db.")
    return url


def _report(url: str, out: Path) -> None:
    from trustbench.report import write_report

    _console().print(f"report: {write_report(url, out)}")


@app.command()
@_bad_input_exits_2
def run(
    suite: Annotated[str, typer.Argument(help="A built-in suite (quick, full, sbibm) or a suite YAML file.")],
    benchmark: Annotated[list[str] | None, typer.Option(
        "--benchmark", "-b", metavar="NAME", help="Run only this benchmark of the suite (repeat for several).")] = None,
    db: DbOption = None,
    out: OutOption = Path("results"),
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Worker processes (1 runs in this process).")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        metavar="ADDRESS", help="Run on Dask: 'local' (a local cluster of WORKERS processes) or a scheduler address "
             "like tcp://host:8786.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run a suite into the database (cells already stored are skipped), then write the report.

    Example: `trustbench run quick --workers 2`
    """
    from trustbench.runner.api import run_suite
    from trustbench.runner.store import store_url

    url = store_url(db, out)
    summary = run_suite(suite, db=url, workers=workers, scheduler=scheduler, benchmarks=benchmark,
                        progress=progress)
    _console().print(f"suite {summary.suite}: {summary.n_run} cell(s) run, {summary.n_skipped} already stored, "
                     f"{summary.n_failed} failed, {summary.seconds:.1f} s -> {_shown(url)}")
    for line in summary.failures:
        _say(line, "red", "failed: ")
    _report(url, out)
    if summary.n_failed:
        _say("failed cells are stored with their traceback and run again next time.", "yellow")
        raise typer.Exit(1)


@app.command()
@_bad_input_exits_2
def report(db: DbOption = None, out: OutOption = Path("results")) -> None:
    """Write the HTML report of a database to OUT/report."""
    _report(_existing_db(db, out), out)


@app.command()
@_bad_input_exits_2
def export(
    format: Annotated[Format, typer.Option("--format", "-f", help="File format.")] = Format.csv,
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="PATH", help="Output file. [default: results/trustbench.csv or .parquet]")] = None,
) -> None:
    """Export every record of a database to CSV or Parquet."""
    from trustbench.runner.store import Store

    store = Store(_existing_db(db, Path("results")))
    path = store.export(out or Path("results") / f"trustbench.{format.value}", format=format.value)
    _console().print(f"{len(store.records())} records -> {path}")


@app.command()
@_bad_input_exits_2
def cards(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", metavar="PATH", help="Output JSON file.")] = Path("results/cards.json"),
) -> None:
    """Export the quality card of every model (ICU benchmark) as JSON, each section mapped to TRIPOD+AI."""
    from trustbench.report.cards import all_cards, write_cards
    from trustbench.runner.store import Store

    store = Store(_existing_db(db, Path("results")))
    found = all_cards(store.records(), store.artifacts())
    if not found:
        raise ValueError("the database holds no quality cards; run a suite with the icu benchmark first "
                         "(`trustbench run quick`).")
    path = write_cards(found, out)
    _console().print(f"{len(found)} quality cards -> {path}")


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def _key_values(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["width=64", "lr=1e-3"]`` -> ``{"width": 64, "lr": 0.001}`` (values read as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} must look like KEY=VALUE; got {item!r}.")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as err:
            raise ValueError(f"{option} {item!r}: the value is not a valid YAML scalar ({err}).") from None
    return out


@app.command()
@_bad_input_exits_2
def evaluate(
    task: Annotated[str, typer.Option(metavar="NAME", help="A task name (see `trustbench list tasks`) or module:attr.")],
    method: Annotated[str, typer.Option(metavar="NAME", help="A method name (see `trustbench list methods`) or "
                                             "module:callable for your own model.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="Task parameter KEY=VALUE (repeatable; VALUE is read as YAML: 50, 0.1, true).")] = None,
    method_param: Annotated[list[str] | None, typer.Option(
        "--method-param", "-m", metavar="KEY=VALUE", help="Method parameter KEY=VALUE (repeatable).")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", "-s", metavar="N", help="Seed (repeatable). [default: 0]")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", metavar="NAME", help="Metric (repeatable). [default: all registered metrics]")] = None,
    n_boot: Annotated[int, typer.Option(min=1, metavar="N", help="Bootstrap resamples for the confidence intervals.")] = 1000,
    db: Annotated[str | None, typer.Option(metavar="URL", help="Also store the results in this database.")] = None,
) -> None:
    """Evaluate one method on one task (clean test data) and print the metrics with their 95 % CIs.

    Example: `trustbench evaluate --task regression/polynomial --method gp --seed 0 --seed 1`
    """
    from rich.markup import escape
    from rich.table import Table

    from trustbench.runner.api import evaluate as run_evaluate

    df = run_evaluate(task, method, params=_key_values(param, "--param"),
                      method_params=_key_values(method_param, "--method-param"), seeds=seed or [0],
                      metrics=metric, n_boot=n_boot, db=db)
    console = _console()
    console.print(f"task: {task}")
    for name, rows in df.groupby("method", sort=False):
        console.print(f"method: {escape(name)}", style="bold")
        table = Table()
        for col in ("seed", "metric", "value", "95% CI", "n"):
            table.add_column(col, justify="left" if col in ("metric", "95% CI") else "right")
        for row in rows.sort_values(["metric", "seed"]).itertuples():
            table.add_row(str(row.seed), escape(row.metric), f"{row.value:.4g}",
                          escape(f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"), str(row.n))
        console.print(table)


def main() -> None:
    """Entry point of the ``trustbench`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
