"""Shared settings for the Python tests: endpoints of the running local stack (infra/stack up)."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "tools"))

KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081")
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")


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
