"""Hostile input against lgma-api, as an attacker with `requests` would send it: malformed JSON and
write methods (the API is read-only), huge bodies, query strings and headers, deep nesting, path
tricks (traversal, encoded slashes, guard bypass attempts on admin paths), SQL-injection strings in
parameter values, names and path ids, missing / wrong / malformed credentials, and lower roles trying
admin endpoints. Each must be a 4xx with no data, the process keeps answering /health, nothing
panics, no token appears in its log, and nothing changed (ClickHouse tables and columns, reference
rows, the API's own answers compared before/after).

Runs its own lgma-api on a free port with known tokens. Requires `infra/stack up`, `infra/stack
migrate` and `cargo build -p lgma-api`.
"""
import hashlib
import os
import pathlib
import subprocess

import pytest
import requests

from http_support import free_port, raw_request as raw, wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLICKHOUSE = os.environ.get("LGMA_CLICKHOUSE_URL", "http://127.0.0.1:8123")
ADMIN_CH = ("lgma_admin", os.environ.get("LGMA_CH_ADMIN_PASSWORD", "admin-local"))
TOKENS = {"public": "hostile-public-token-3c1d", "analyst": "hostile-analyst-token-8a0e",
          "admin": "hostile-admin-token-f27b"}
INJECTIONS = ["DC' OR '1'='1", "DC'); DROP TABLE lgma.local_authorities; --", "1 UNION SELECT name FROM system.users",
              "' || sleep(3) || '", "DC\\' OR 1=1 --", "DC%27%20OR%201%3D1", "DC\u0000", "${jndi:ldap://x}", "{{7*7}}"]


def ch(sql: str) -> str:
    r = requests.post(CLICKHOUSE, params={"user": ADMIN_CH[0], "password": ADMIN_CH[1]}, data=sql.encode(), timeout=30)
    assert r.status_code == 200, r.text[:300]
    return r.text


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    binary = ROOT / "target" / "debug" / "lgma-api"
    assert binary.exists(), "build it first: cargo build -p lgma-api"
    tmp = tmp_path_factory.mktemp("hostile-api")
    tokens = tmp / "tokens.toml"
    tokens.write_text("".join(
        f'[[tokens]]\nname = "hostile-{role}"\nsha256 = "{hashlib.sha256(tok.encode()).hexdigest()}"\nrole = "{role}"\n'
        for role, tok in TOKENS.items()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp / "api.log", "wb")
    proc = subprocess.Popen([str(binary), "--config", str(ROOT / "infra/config/api.toml")],
                            env=dict(os.environ, LGMA_API_LISTEN=f"127.0.0.1:{port}", LGMA_API_TOKENS_FILE=str(tokens),
                                     LGMA_API_CLICKHOUSE__URL=CLICKHOUSE),
                            stdout=log, stderr=subprocess.STDOUT)
    wait_ready(base, proc, tmp / "api.log", 30)
    yield base, proc, tmp
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def auth(role: str | None) -> dict:
    return {"Authorization": "Bearer " + TOKENS[role]} if role else {}


def clickhouse_state() -> dict:
    # Tables other test runs create and drop meanwhile (canaries, test fixtures) are left out.
    tables = [t for t in ch("SELECT name FROM system.tables WHERE database = 'lgma' ORDER BY name").split()
              if "canary" not in t and "test" not in t]
    columns = ch("SELECT table, name, type FROM system.columns WHERE database = 'lgma' ORDER BY table, name")
    return {
        "tables": set(tables),
        "columns": {t: [line for line in columns.splitlines() if line.startswith(t + "\t")] for t in tables},
        "reference": ch("SELECT count(), sum(cityHash64(*)) FROM lgma.local_authorities"),
        "migrations": ch("SELECT count() FROM lgma.schema_migrations"),
        "databases": ch("SELECT name FROM system.databases ORDER BY name"),
    }


def api_state(base: str) -> dict:
    out = {}
    for path, role in [("/v1/councils", None), ("/v1/whoami", "analyst"), ("/v1/open-data", None),
                       ("/openapi.json", None)]:
        r = requests.get(base + path, headers=auth(role), timeout=30)
        out[path] = (r.status_code, r.text)
    return out


def assert_4xx(status: int, what, data: bytes = b""):
    assert 400 <= status < 500, f"{what}: {status} {data[:200]!r}"
    # No data leaked with the refusal: neither rows nor local files.
    for marker in (b'"data"', b"root:x:", b"[package]", b"[workspace]"):
        assert marker not in data, f"{what}: {marker!r} in {data[:200]!r}"


def test_hostile_input_refused_without_change(api):
    base, proc, tmp = api
    ch_before, api_before = clickhouse_state(), api_state(base)
    paths = [p for p in requests.get(base + "/openapi.json", timeout=10).json()["paths"] if p.startswith("/v1/")]
    admin_paths = ["/v1/quarantine", "/v1/audit/access", "/v1/audit/replays", "/v1/quality/rules"]
    assert len(paths) >= 20
    tried = 0

    # Writes with every role, with malformed JSON bodies: the API has no write endpoints.
    bodies = [b'{"la_code": ', b"[", b"null", b"\xff\xfe garbage", b'{"$where": "1 == 1"}',
              b'{"a":' * 5000 + b"1" + b"}" * 5000]
    for path in paths + ["/v1/open-data/planning-decisions-by-council"]:
        concrete = path.replace("{id}", "planning-decisions-by-council")
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for role in ("public", "analyst", "admin"):
                body = bodies[(tried) % len(bodies)]
                r = requests.request(method, base + concrete, data=body, timeout=10,
                                     headers={**auth(role), "Content-Type": "application/json"})
                assert_4xx(r.status_code, (method, concrete, role), r.content)
                tried += 1

    # Huge bodies, query strings and headers.
    for size in (200_000, 20 * 1024 * 1024):
        try:
            r = requests.post(base + "/v1/summaries/planning/monthly", data=b"{" * size, headers=auth("admin"), timeout=60)
            assert_4xx(r.status_code, f"body {size}", r.content)
        except requests.ConnectionError:
            pass  # closing the connection on an oversized body is also a refusal
        tried += 1
    for params in [{"la_code": "D" * 100_000}, {"limit": "9" * 10_000}, {f"p{i}": "x" for i in range(5_000)}]:
        try:
            r = requests.get(base + "/v1/summaries/planning/monthly", params=params, headers=auth("admin"), timeout=30)
            assert_4xx(r.status_code, f"query {str(params)[:40]}", r.content)
        except requests.ConnectionError:
            pass
        tried += 1
    try:
        r = requests.get(base + "/v1/councils", headers={"X-Big": "h" * 2_000_000}, timeout=10)
        assert_4xx(r.status_code, "2 MB header", r.content)
    except requests.ConnectionError:
        pass
    tried += 1

    # Deep nesting in parameters (bracket syntax, JSON in a value).
    for params in [{"la_code" + "[a]" * 10_000: "DC"}, {"filter": '{"a":' * 10_000 + "1" + "}" * 10_000},
                   {"la_code[]": ["DC"] * 2_000}]:
        r = requests.get(base + "/v1/summaries/planning/monthly", params=params, headers=auth("admin"), timeout=30)
        assert_4xx(r.status_code, f"nesting {str(params)[:40]}", r.content)
        tried += 1
    assert requests.get(base + "/health", timeout=5).status_code == 200

    # Path tricks: traversal, encoded slashes, and attempts to reach admin paths past the guard.
    for path in ["/v1/open-data/..%2F..%2Fetc%2Fpasswd", "/v1/open-data/%2e%2e", "/v1/open-data/%2e%2e%2fquarantine",
                 "/v1/open-data/..%5C..%5Cetc%5Cpasswd", "/v1/open-data/%252e%252e%252f", "/v1/open-data/x%00y",
                 "/static/..%2f..%2fCargo.toml", "/static/../../Cargo.toml", "/../../etc/passwd",
                 "/static/%2e%2e/%2e%2e/Cargo.toml", "/v1/open-data/" + "a" * 10_000, "/.git/config", "/.env",
                 "/v1/open-data/planning'--", "/v1/open-data/x' OR '1'='1"]:
        status, data = raw(base, "GET", path.replace(" ", "%20"))
        assert_4xx(status, path, data)
        tried += 1
    for p in admin_paths:
        for variant in ["/" + p, p + "/", p.upper(), p + "%2F", p.replace("/v1/", "/v1/./"), p.replace("/v1/", "/v1//"),
                        p.replace("/v1/", "/v1/x/../"), p + ";admin=1", p + "%00", p + "?role=admin", p + "#x",
                        p.replace("/v1/", "/v1%2F")]:
            status, data = raw(base, "GET", variant, auth("analyst"))
            assert status != 200, (variant, status, data[:200])
            if status < 500:
                assert_4xx(status, variant, data)
            tried += 1

    # SQL injection and friends in values, in parameter names and in path ids, on every endpoint.
    for path in paths:
        concrete = path.replace("{id}", "planning-decisions-by-council")
        for inj in INJECTIONS:
            for params in [{"la_code": inj}, {"period": inj}, {inj: "1"}, {"la_code": ["DC", inj]}]:
                r = requests.get(base + concrete, params=params, headers=auth("admin"), timeout=30)
                assert_4xx(r.status_code, (concrete, params), r.content)
                tried += 1
    for inj in INJECTIONS:
        r = requests.get(base + "/v1/open-data/" + requests.utils.quote(inj, safe=""), timeout=10)
        assert_4xx(r.status_code, inj, r.content)
        tried += 1
    assert requests.get(base + "/health", timeout=5).status_code == 200

    # Credentials: missing, wrong, malformed, other schemes, oversized, header injection.
    bad_auth = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"},
                {"Authorization": "bearer " + TOKENS["admin"][:-1]}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
                {"Authorization": "Bearer " + TOKENS["admin"] + "x"}, {"Authorization": "Bearer " + "A" * 100_000},
                {"Authorization": "Bearer ' OR '1'='1"}, {"Authorization": "Bearer " + hashlib.sha256(
                    TOKENS["admin"].encode()).hexdigest()},  # the stored hash is not a token
                {"Authorization": "Token " + TOKENS["admin"]}, {"X-Api-Key": TOKENS["admin"]},
                {"Cookie": "token=" + TOKENS["admin"]}]
    for headers in bad_auth:
        for path in ["/v1/summaries/planning/monthly", "/v1/quarantine"]:
            try:
                r = requests.get(base + path, headers=headers, timeout=10)
            except requests.ConnectionError:
                continue
            assert r.status_code in (400, 401, 403, 431), (path, str(headers)[:60], r.status_code)
            assert_4xx(r.status_code, (path, str(headers)[:40]), r.content)
            tried += 1
    # Lower roles on higher endpoints.
    for p in paths:
        concrete = p.replace("{id}", "planning-decisions-by-council")
        # Public (open data): the open datasets and the council performance indicators.
        if concrete.startswith(("/v1/open-data", "/v1/indicators")) or concrete in ("/v1/councils", "/v1/whoami"):
            continue
        r = requests.get(base + concrete, headers=auth("public"), timeout=10)
        assert r.status_code == 403, (concrete, "public", r.status_code)
        tried += 1
    for p in admin_paths:
        r = requests.get(base + p, headers=auth("analyst"), timeout=10)
        assert r.status_code == 403, (p, "analyst", r.status_code)
        tried += 1

    assert requests.get(base + "/health", timeout=5).status_code == 200
    assert proc.poll() is None, "the API process exited"
    ch_after, api_after = clickhouse_state(), api_state(base)
    lost = ch_before["tables"] - ch_after["tables"]
    assert not lost, f"tables gone: {lost}"
    for t in ch_before["tables"]:
        assert ch_before["columns"][t] == ch_after["columns"][t], f"columns of {t} changed"
    for k in ("reference", "migrations", "databases"):
        assert ch_before[k] == ch_after[k], k
    assert api_after == api_before
    log = (tmp / "api.log").read_text(errors="replace")
    assert "panicked" not in log, log[-2000:]
    for tok in TOKENS.values():
        assert tok not in log, "a token is in the API log"
    print(f"injected {tried} hostile requests into lgma-api: every one refused (4xx, no data), /health 200, "
          f"no panic, no token in the log, {len(ch_before['tables'])} lgma tables + columns, reference rows and "
          f"4 API answers identical before/after")
