"""Helpers for the lgma-api tests: spawn target/debug/lgma-api on a free port with a test tokens
file, talk to ClickHouse directly as the writer (fixtures) and the reader (expected figures)."""
import hashlib
import os
import pathlib
import socket
import subprocess
import time
import urllib.parse

import requests

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        env = dict(os.environ, LGMA_API_LISTEN=f"127.0.0.1:{self.port}", LGMA_API_TOKENS_FILE=str(tokens),
                   LGMA_API_SUPPRESSION_THRESHOLD=str(threshold), LGMA_API_CLICKHOUSE__URL=CLICKHOUSE)
        self.log = open(tmp / "api.log", "wb")
        self.proc = subprocess.Popen([str(binary), "--config", str(ROOT / "infra/config/api.toml")],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(self.base + "/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("lgma-api did not become ready: " + (tmp / "api.log").read_text()[-2000:])

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
