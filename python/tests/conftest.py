import pytest

import storyloom


@pytest.fixture
def db(tmp_path):
    return f"sqlite:{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db):
    with storyloom.Engine(db, workers=2, poll_interval=0.01) as e:
        yield e
