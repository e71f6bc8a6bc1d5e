import os
import textwrap
import uuid

import pytest
import sqlalchemy as sa

from tests.runner import fake_protocol
from trustbench.registry import BENCHMARKS

HERE = fake_protocol.HERE


@pytest.fixture
def fake():
    """The fake benchmark (protocol tests.runner.fake_protocol), registered for one test."""
    fake_protocol.register()
    yield fake_protocol
    BENCHMARKS.unregister("fake")


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite YAML file into tmp_path; returns its path."""

    def write(text, name="suite.yaml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def suite(methods=(f"{HERE}:Mean", f"{HERE}:LeastSquares"), seeds=(0,), tasks=(f"{HERE}:Line",), name="s",
          perturbations=({"name": "gaussian_noise", "severities": [0.5]},)):
    """A fake-benchmark suite mapping."""
    return {"name": name, "seeds": list(seeds), "n_boot": 30,
            "benchmarks": [{"name": "fake", "tasks": list(tasks), "methods": list(methods),
                            "perturbations": list(perturbations), "metrics": ["rmse", "mae", "reference_w1"]}]}


@pytest.fixture
def postgres_url():
    """A URL into a fresh schema of the PostgreSQL server at TRUSTBENCH_TEST_POSTGRES_URL (else skip)."""
    url = os.environ.get("TRUSTBENCH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set TRUSTBENCH_TEST_POSTGRES_URL=postgresql+psycopg://user@host:port/db to test the store "
                    "on PostgreSQL (CI sets it; .ci/run shows how to start a throw-away server)")
    schema = f"tb_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
