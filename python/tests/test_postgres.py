"""A PostgreSQL URL passes through storyloom.Engine unchanged: a run started by
one engine is executed by another on the same database. Runs when
STORYLOOM_TEST_PG_URL names a server (scripts/test.sh starts a throwaway one);
each test uses a fresh schema, made with psql."""

import os
import re
import subprocess
import uuid

import pytest

import storyloom
from storyloom_test_support import wait_status

SERVER = os.environ.get("STORYLOOM_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not SERVER, reason="STORYLOOM_TEST_PG_URL is not set")


@pytest.fixture
def pg_url():
    schema = "py_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", SERVER, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    yield f"{SERVER}?options=-csearch_path%3D{schema}"
    subprocess.run(["psql", SERVER, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=True)


def test_two_engines_share_a_postgres_store(pg_url):
    with storyloom.Engine(pg_url, poll_interval=0.02) as starter, storyloom.Engine(
        pg_url, poll_interval=0.02
    ) as executor:
        starter.register("greet", lambda ctx, input: None)  # never launched here

        @executor.workflow("greet")
        def greet(ctx, input):
            return ctx.step("hello", lambda: f"hello {input['name']}")

        executor.launch()
        run = starter.start("greet", {"name": "owl"})
        wait_status(starter, run.id, "completed")
        done = starter.get(run.id)
        assert done.output == "hello owl"


def test_a_wrong_password_is_a_store_error_without_the_password():
    host_port = re.search(r"@([^/]+)/", SERVER).group(1)
    with pytest.raises(storyloom.StoreError) as err:
        storyloom.Engine(f"postgresql://nobody:hunter2-secret@{host_port}/postgres")
    assert "postgresql://nobody:***@" in str(err.value)
    assert "hunter2-secret" not in str(err.value)
