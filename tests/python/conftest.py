"""Shared settings for the Python tests: endpoints of the running local stack (infra/stack up)."""
import os
import pathlib
import signal
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "tools"))

KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081")
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")


def _terminated(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# A run stopped with SIGTERM (`infra/stack test` stopping a background check) tears down its
# fixtures as on Ctrl-C, so what a test started (a private broker, a stack) is stopped too.
signal.signal(signal.SIGTERM, _terminated)


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return KAFKA


@pytest.fixture(scope="session")
def registry_url() -> str:
    return REGISTRY


@pytest.fixture(scope="session")
def clickhouse_url() -> str:
    return CLICKHOUSE
