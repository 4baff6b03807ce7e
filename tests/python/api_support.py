"""Helpers for the lgma-api tests: spawn target/debug/lgma-api on a free port with a test tokens
file, talk to ClickHouse directly as the writer (fixtures) and the reader (expected figures)."""
import hashlib
import os
import pathlib
import subprocess
import time
import urllib.parse

import requests

from http_support import free_port, wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
USERS = {
    "writer": ("lgma_writer", os.environ.get("LGMA_CH_WRITER_PASSWORD", "writer-local")),
    "reader": ("lgma_reader", os.environ.get("LGMA_CH_READER_PASSWORD", "reader-local")),
    "admin": ("lgma_admin", os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local")),
}
TOKENS = {"analyst": "test-analyst-token-7f3a", "admin": "test-admin-token-91c2", "public": "test-public-token-55e0"}


def ch(sql: str, user: str = "reader", body: bytes | None = None) -> str:
    name, password = USERS[user]
    params = {"user": name, "password": password, "database": "lgma"}
    if body is not None:
        params["query"] = sql
        r = requests.post(CLICKHOUSE, params=params, data=body, timeout=30)
    else:
        r = requests.post(CLICKHOUSE, params=params, data=sql.encode(), timeout=30)
    assert r.status_code == 200, f"{sql[:200]}: {r.text[:500]}"
    return r.text


def ch_json(sql: str, user: str = "reader") -> list[dict]:
    import json
    return json.loads(ch(sql + " FORMAT JSON", user))["data"]


def insert(table: str, rows: list[dict]) -> None:
    import json
    body = "\n".join(json.dumps(r) for r in rows).encode()
    ch(f"INSERT INTO lgma.{table} FORMAT JSONEachRow", "writer", body)


class Api:
    def __init__(self, tmp: pathlib.Path, threshold: int = 10):
        binary = ROOT / "target" / "debug" / "lgma-api"
        assert binary.exists(), "build it first: cargo build -p lgma-api"
        tokens = tmp / "tokens.toml"
        tokens.write_text("".join(
            f'[[tokens]]\nname = "test-{role}"\nsha256 = "{hashlib.sha256(tok.encode()).hexdigest()}"\nrole = "{role}"\n'
            for role, tok in TOKENS.items()))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, LGMA_DEV_MODE="1", LGMA_API_LISTEN=f"127.0.0.1:{self.port}", LGMA_API_TOKENS_FILE=str(tokens),
                   LGMA_API_SUPPRESSION_THRESHOLD=str(threshold), LGMA_API_CLICKHOUSE__URL=CLICKHOUSE)
        self.log = open(tmp / "api.log", "wb")
        self.proc = subprocess.Popen([str(binary), "--config", str(ROOT / "infra/config/api.toml")],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_ready(self.base, self.proc, tmp / "api.log", 20)
        except AssertionError:
            self.stop()
            raise

    def get(self, path: str, role: str | None = None, headers: dict | None = None, **params):
        h = dict(headers or {})
        if role:
            h["Authorization"] = "Bearer " + TOKENS[role]
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return requests.get(url, headers=h, timeout=30)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ---------------------------------------------------------------------------------------------
# A live stream for the API tests: `lgma-publisher simulate` publishing onto uniquely suffixed topics
# while a private `lgma-ingest` (manual assignment, same suffix) lands it in the shared `lgma` tables,
# plus the helpers that compare API answers with direct ClickHouse queries while data lands.
# The simulated calendar starts in a random month of 2011-2019 that other tests do not use, so the
# months the tests filter on are filled by this stream (the comparisons still read everything in them).
# ---------------------------------------------------------------------------------------------
import csv  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import uuid  # noqa: E402

from topics_support import create_defined  # noqa: E402

KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REGISTRY = os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081")
TABLES = {
    "lgma.homelessness.presentation": ("homelessness.presentation", "hl_presentation"),
    "lgma.homelessness.placement": ("homelessness.placement", "hl_placement"),
    "lgma.homelessness.exit": ("homelessness.exit", "hl_exit"),
    "lgma.housing.dwelling-unit": ("housing.dwelling-unit", "housing_dwelling_unit"),
    "lgma.housing.need-assessment": ("housing.need-assessment", "housing_need_assessment"),
    "lgma.planning.application": ("planning.application", "planning_application"),
    "lgma.waste.return": ("waste.return", "waste_return"),
}
INT_TYPES = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64")


def month_after(year: int, month: int, n: int = 1) -> tuple[int, int]:
    i = year * 12 + (month - 1) + n
    return i // 12, i % 12 + 1


class Stream:
    """Publisher + private ingest. `start()` returns once the first simulated month has landed."""

    def __init__(self, tmp: pathlib.Path, speed_days_per_s: float = 3.0):
        self.run = uuid.uuid4().hex[:10]
        self.suffix = f".apilive{self.run}"
        self.year, self.month = random.randint(2011, 2019), random.randint(1, 8)
        self.months = [f"{y:04d}-{m:02d}" for y, m in (month_after(self.year, self.month, i) for i in range(4))]
        self.tmp = tmp
        self.speed = speed_days_per_s
        self.summary = tmp / "publisher-summary.json"
        self.publisher = self.ingest = None

    def topic(self, base: str) -> str:
        return base + self.suffix

    def my_topics_sql(self) -> str:
        return "(" + ", ".join(f"'{self.topic(t)}'" for t in TABLES) + ")"

    def start(self):
        for b in ("lgma-publisher", "lgma-ingest"):
            assert (ROOT / "target/debug" / b).exists(), f"build it first: cargo build -p {b} (or infra/stack build)"
        env = dict(os.environ, LGMA_PUBLISHER_KAFKA__BOOTSTRAP_SERVERS=KAFKA, LGMA_PUBLISHER_REGISTRY_URL=REGISTRY,
                   LGMA_PUBLISHER_PROGRESS_INTERVAL_SECS="5")
        create_defined(self.suffix, list(TABLES))
        create_defined(self.suffix, ["lgma.dlq"], partitions=1)
        self.pub_log = open(self.tmp / "publisher.log", "wb")
        self.publisher = subprocess.Popen(
            [str(ROOT / "target/debug/lgma-publisher"), "--topic-suffix", self.suffix, "simulate",
             "--seed", str(random.randint(1, 10**9)), "--start", f"{self.months[0]}-01",
             "--speed-up", str(self.speed * 86400), "--duration", "900", "--summary-json", str(self.summary)],
            cwd=ROOT, env=env, stdout=self.pub_log, stderr=subprocess.STDOUT)
        config = self.tmp / "ingest.toml"
        text = (
            f'group_id = "api-live{self.suffix}"\nassignment = "manual"\ntopic_suffix = "{self.suffix}"\n'
            f'dlq_topic = "lgma.dlq"\npublish_enriched = false\nregistry_url = "{REGISTRY}"\n'
            f'schemas_dir = "{ROOT}/schemas"\nrules_dir = "{ROOT}/schemas/rules"\n'
            f'keys_file = "{ROOT}/infra/config/keys.example.toml"\nmetrics_listen = "127.0.0.1:{free_port()}"\n'
            f'[kafka]\nbootstrap_servers = "{KAFKA}"\n[batch]\nmax_rows = 5000\nmax_wait_ms = 1000\n'
            f'[clickhouse]\nurl = "{CLICKHOUSE}"\nuser = "{USERS["writer"][0]}"\npassword = "{USERS["writer"][1]}"\n'
            'database = "lgma"\n')
        for topic, (entity, table) in TABLES.items():
            text += f'[[topics]]\ntopic = "{topic}"\nentity = "{entity}"\ntable = "{table}"\n'
        config.write_text(text)
        self.ing_log = open(self.tmp / "ingest.log", "wb")
        self.ingest = subprocess.Popen([str(ROOT / "target/debug/lgma-ingest"), "run", "--config", str(config)],
                                       cwd=ROOT, stdout=self.ing_log, stderr=subprocess.STDOUT,
                                       env=dict(os.environ, LGMA_DEV_MODE="1", RUST_LOG="info,librdkafka=warn,rdkafka=warn"))
        # Wait until the second simulated month is landing: the first has been published in full.
        y, m = month_after(self.year, self.month)
        deadline = time.time() + 240
        while True:
            self.assert_running()
            n = int(ch(f"SELECT count() FROM lgma.planning_application_history WHERE topic = "
                       f"'{self.topic('lgma.planning.application')}' AND received_date >= "
                       f"toUInt64(toUnixTimestamp(toDateTime('{y:04d}-{m:02d}-05 00:00:00'))) * 1000").strip())
            if n > 0:
                return
            assert time.time() < deadline, "no data of the second simulated month landed:\n" + self.log("ingest")
            time.sleep(1)

    def assert_running(self):
        assert self.publisher.poll() is None, "publisher exited:\n" + self.log("publisher")
        assert self.ingest.poll() is None, "ingest exited:\n" + self.log("ingest")

    def landed(self) -> int:
        """Offsets of record written for this stream's topics."""
        return int(ch(f"SELECT count() FROM lgma.ingest_events WHERE topic IN {self.my_topics_sql()}").strip())

    def stop_publisher_and_drain(self, timeout: float = 300) -> int:
        """SIGTERM the publisher (it flushes and writes its summary) and wait until ingest has landed
        every delivered event. Returns that number."""
        self.publisher.send_signal(signal.SIGTERM)
        self.publisher.wait(timeout=150)
        delivered = json.loads(self.summary.read_text())["delivered"]
        deadline = time.time() + timeout
        while self.landed() < delivered:
            assert self.ingest.poll() is None, "ingest exited:\n" + self.log("ingest")
            assert time.time() < deadline, f"ingest landed {self.landed()} of {delivered}:\n" + self.log("ingest")
            time.sleep(1)
        assert self.landed() == delivered
        return delivered

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_bytes()[-3000:].decode(errors="replace")

    def stop(self):
        for p in (self.publisher, self.ingest):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        for f in ("pub_log", "ing_log"):
            if hasattr(self, f):
                getattr(self, f).close()


def typed(rows: list[dict], meta: list[dict]) -> list[dict]:
    """ClickHouse JSON rows with 64-bit integers (quoted for the readonly user) turned into ints."""
    ints = {m["name"] for m in meta if m["type"].removeprefix("Nullable(").rstrip(")") in INT_TYPES}
    return [{k: (int(v) if k in ints and isinstance(v, str) else v) for k, v in r.items()} for r in rows]


def direct(sql: str) -> tuple[list[dict], list[dict]]:
    """Rows and column metadata of a query run directly as lgma_reader."""
    out = json.loads(ch(sql + " FORMAT JSON", "reader"))
    return typed(out["data"], out["meta"]), out["meta"]


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def same_cell(csv_text: str, value) -> bool:
    """A CSV cell of the API against the JSON value ClickHouse gave: null = empty, numbers by value."""
    if value is None:
        return csv_text == ""
    if isinstance(value, bool):
        return csv_text == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(csv_text) == float(value)
        except ValueError:
            return False
    if isinstance(value, (list, dict)):
        return json.loads(csv_text) == value
    return csv_text == str(value)


class Retry(Exception):
    """A read saw the data move under it (e.g. the paging total changed between pages)."""


def agree(read_direct, read_api, what: str, tries: int = 80, view_of_direct: bool = False):
    """Direct read, API read, direct read again: when the two direct reads agree (nothing landed in
    between that changes them), the API must give exactly the same; otherwise retry. Fails on a
    mismatch, and when ClickHouse never held still long enough to compare.

    `view_of_direct`: the API reads a table fed by a materialized view of the table read directly
    (dicts of counts that only grow). ClickHouse writes an INSERT's table before its views, so for a
    moment the API may be behind, never ahead: that is retried too, and a lag that never closes
    fails. Counts that only grow also agree while rows land: every API count between the two
    direct reads' counts of the same key (a doubled or lost batch falls outside them)."""
    last = None
    for _ in range(tries):
        d1 = read_direct()
        try:
            a = read_api()
        except Retry:
            continue
        d2 = read_direct()
        if view_of_direct and d1 != d2 and set(d1) <= set(a) <= set(d2) \
                and all(d1.get(k, 0) <= n <= d2[k] for k, n in a.items()):
            return a
        if d1 == d2:
            behind = view_of_direct and a != d1 and all(a.get(k, 0) <= v for k, v in d1.items()) \
                and set(a) <= set(d1)
            if not behind:
                assert a == d1, f"{what}: the API differs from ClickHouse\nAPI:        {str(a)[:1500]}\nClickHouse: {str(d1)[:1500]}"
                return d1
        last = (a, d1, d2)
        time.sleep(0.2)
    if last is None:
        raise AssertionError(f"{what}: never agreed: the API's pages moved under every read")
    a, d1, d2 = last
    raise AssertionError(f"{what}: never agreed (ClickHouse moving, or the API behind it); last try, "
                         f"API / first / second direct read where they differ: {str(differences(a, d1, d2))[:1500]}")


def differences(*reads) -> dict:
    """Keys whose values differ between the reads (dicts, or row lists by position), with each read's value."""
    as_dicts = [r if isinstance(r, dict) else dict(enumerate(r)) for r in reads]
    keys = set().union(*as_dicts)
    return {k: tuple(d.get(k) for d in as_dicts) for k in sorted(keys, key=repr)
            if len({repr(d.get(k)) for d in as_dicts}) > 1}


def month_date(period: str) -> str:
    return f"{period}-01"


def today() -> dt.date:
    return dt.date.today()
