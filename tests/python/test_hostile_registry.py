"""Hostile input against lgma-registry, as an attacker with `requests` would send it: malformed JSON,
huge bodies and headers, deep nesting, path tricks, SQL-injection strings in parameters, missing and
wrong credentials, a read-only user trying to write. Each must be a 4xx with a JSON error, the process
must keep answering /health, and the registry's state must be unchanged (subjects, versions, schemas,
config and mode compared before/after).

Runs its own registry (auth on, unique store topic, free port), so the state comparison is exact and
the shared registry is not disturbed; a short subset also runs against the shared registry on
127.0.0.1:8081 (no auth there). Requires `infra/stack up` and `cargo build -p lgma-registry`.
"""
import hashlib
import json
import os
import pathlib
import subprocess
import uuid

import pytest
import requests

from http_support import free_port, raw_request, wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
SHARED = os.environ.get("LGMA_REGISTRY_URL", "http://127.0.0.1:8081")
CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
READER, WRITER = ("reader", "r-secret-1"), ("writer", "w-secret-1")
SCHEMA = json.dumps({"type": "record", "name": "Hostile", "fields": [{"name": "id", "type": "string"}]})
INJECTIONS = ["' OR '1'='1", "x'; DROP TABLE subjects; --", "1 UNION SELECT * FROM users", "%27%20OR%201=1",
              "../../etc/passwd", "\u0000", "a" * 5000]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = pathlib.Path(os.environ.get("LGMA_REGISTRY_BIN", ROOT / "target" / "debug" / "lgma-registry"))
    assert binary.exists(), "build it first: cargo build -p lgma-registry"
    tmp = tmp_path_factory.mktemp("hostile-registry")
    users = tmp / "users.toml"
    # The writer may change only subjects starting "hostile-" (a write user must list its prefixes).
    users.write_text("".join(
        f'[[users]]\nname = "{name}"\npassword_sha256 = "{hashlib.sha256(pw.encode()).hexdigest()}"\nrole = "{role}"\n{extra}'
        for (name, pw), role, extra in [(READER, "read", ""), (WRITER, "write", 'subjects = ["hostile-"]\n')]))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp / "registry.log", "wb")
    proc = subprocess.Popen(
        [str(binary), "--listen", f"127.0.0.1:{port}", "--topic", f"test._schemas.hostile.{uuid.uuid4().hex}"],
        env=dict(os.environ, LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS=KAFKA,
                 LGMA_REGISTRY_AUTH__USERS_FILE=str(users), RUST_LOG="warn"),
        stdout=log, stderr=subprocess.STDOUT)
    wait_ready(base, proc, tmp / "registry.log", 60)
    # Some state to protect: one subject with two versions, a subject config, a subject mode.
    s = requests.Session()
    s.auth = WRITER
    r = s.post(f"{base}/subjects/hostile-value/versions", headers=CT, data=json.dumps({"schema": SCHEMA}))
    assert r.status_code == 200, r.text
    v2 = json.loads(SCHEMA)
    v2["fields"].append({"name": "n", "type": ["null", "int"], "default": None})
    assert s.post(f"{base}/subjects/hostile-value/versions", headers=CT,
                  data=json.dumps({"schema": json.dumps(v2)})).status_code == 200
    assert s.put(f"{base}/config/hostile-value", headers=CT, data='{"compatibility":"FULL"}').status_code == 200
    yield base, proc, tmp
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class OneShot:
    """requests' API with basic auth, a new connection for every request."""

    def __init__(self, credentials):
        self.credentials = credentials

    def request(self, method, url, **kw):
        return requests.request(method, url, auth=self.credentials, **kw)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)


def state(base: str) -> dict:
    s = requests.Session()
    s.auth = READER
    out = {}
    for path in ["/subjects", "/subjects?deleted=true", "/schemas", "/config", "/mode",
                 "/subjects/hostile-value/versions", "/subjects/hostile-value/versions/latest",
                 "/config/hostile-value", "/schemas/types"]:
        r = s.get(base + path, timeout=10)
        out[path] = (r.status_code, r.text)
    return out


def assert_refused(r: requests.Response, what: str, codes=range(400, 500)):
    assert r.status_code in codes, f"{what}: {r.status_code} {r.text[:300]}"
    if r.status_code != 413 or r.text:
        body = r.json()
        assert "error_code" in body and body.get("message"), f"{what}: {body}"


def assert_alive(base: str, proc=None):
    assert requests.get(base + "/health", timeout=5).status_code == 200
    if proc is not None:
        assert proc.poll() is None, "the registry process exited"


def without_key(path: str, body: bytes) -> bool:
    """A JSON object lacking (or nulling) the key `path` acts on: schema, compatibility or mode."""
    try:
        value = json.loads(body)
    except ValueError:
        return False
    if not isinstance(value, dict):
        return False
    keys = {"versions": ["schema"], "config": ["compatibility", "compatibilityLevel"], "mode": ["mode"]}
    part = "versions" if path.endswith("/versions") else path.strip("/").split("/")[0]
    return part in keys and all(value.get(k) is None for k in keys[part])


def test_hostile_input_refused_without_change(registry):
    base, proc, tmp = registry
    before = state(base)
    tried = 0
    # A fresh connection per request, so each case stands alone (connection reuse after a refused
    # write is tested by test_connection_reusable_after_refused_write).
    w = OneShot(WRITER)
    url = base + "/subjects/hostile-value/versions"

    # Malformed JSON and wrong shapes, on every endpoint that takes a body.
    bodies = [b'{"schema": ', b"[", b"null", b'"just a string"', b'{"schema": 5}', b'{"schema": null}',
              b'{"schema": "{not avro"}', b"\xff\xfe\x00garbage", b'{"schema": "\\ud800"}', b"{}" * 1000,
              b'{"compatibility": ["FULL"]}', b'{"mode": {"$gt": ""}}']
    for path, method in [("/subjects/hostile-value/versions", "POST"), ("/subjects/hostile-value", "POST"),
                         ("/compatibility/subjects/hostile-value/versions/latest", "POST"),
                         ("/config/hostile-value", "PUT"), ("/config", "PUT"), ("/mode", "PUT"),
                         ("/mode/hostile-value", "PUT")]:
        for body in bodies:
            r = w.request(method, base + path, headers=CT, data=body, timeout=10)
            if without_key(path, body):
                # An object without the key the endpoint acts on is no change in Confluent 7.4+:
                # registering re-finds the latest version (`maybePopulateFromPrevious`), PUT /config
                # answers the current level. 200 is fine then; the state check below proves nothing
                # changed.
                assert r.status_code == 200 or 400 <= r.status_code < 500, (method, path, r.status_code)
            else:
                assert_refused(r, f"{method} {path} {body[:30]!r}")
            tried += 1
    # Deep nesting: JSON nested past any sane parser depth, and a deeply nested Avro schema string.
    for depth in (1_000, 100_000):
        r = w.post(url, headers=CT, data=b'{"schema":' + b"[" * depth + b"]" * depth + b"}", timeout=30)
        assert_refused(r, f"JSON nested {depth}")
        nested = '"string"'
        for _ in range(depth if depth < 10_000 else 10_000):
            nested = '{"type":"array","items":' + nested + "}"
        r = w.post(url, headers=CT, data=json.dumps({"schema": nested}), timeout=60)
        assert_refused(r, f"Avro nested {min(depth, 10_000)}")
        tried += 2
    assert_alive(base, proc)
    # Huge bodies (limit 2 MiB) and a huge header.
    for size in (3 * 1024 * 1024, 20 * 1024 * 1024):
        r = w.post(url, headers=CT, data=b'{"schema":"' + b"x" * size + b'"}', timeout=60)
        assert r.status_code == 413, (size, r.status_code)
        tried += 1
    try:
        r = w.get(base + "/subjects", headers={"X-Big": "h" * 2_000_000}, timeout=10)
        assert 400 <= r.status_code < 500, r.status_code
    except requests.ConnectionError:
        pass  # refusing the connection outright is also a refusal
    tried += 1
    assert_alive(base, proc)

    # Path tricks: encoded and raw traversal, encoded slashes, NUL, overlong names.
    for path in ["/subjects/..%2F..%2Fetc%2Fpasswd/versions", "/subjects/%2e%2e/versions",
                 "/subjects/%2E%2E%2Fconfig/versions", "/subjects/a%2Fb/versions", "/subjects/a%5Cb/versions",
                 "/subjects/%252e%252e%252f/versions", "/subjects/x%00y/versions", "/subjects/%20/versions",
                 "/subjects/" + "a" * 600 + "/versions", "/subjects/../config", "/subjects/hostile-value/../../mode",
                 "/schemas/ids/..%2F1", "/schemas/ids/-1", "/schemas/ids/99999999999999999999",
                 "/subjects/hostile-value/versions/..%2F1", "//subjects", "/subjects/hostile-value/versions/1/../../.."]:
        status, data = raw_request(base, "GET", path, {"Authorization": requests.auth._basic_auth_str(*READER)},
                                timeout=10)
        assert 400 <= status < 500, (path, status, data[:200])
        assert b"root:" not in data
        tried += 1
    # The same tricks as writes: refused, nothing registered under a normalised name.
    for path in ["/subjects/..%2Fhostile-value/versions", "/subjects/hostile-value%2F..%2Fx/versions",
                 "/subjects/%2e%2e/versions"]:
        status, _ = raw_request(base, "POST", path, {**CT, "Authorization": requests.auth._basic_auth_str(*WRITER)},
                                json.dumps({"schema": SCHEMA}).encode(), timeout=10)
        assert 400 <= status < 500, (path, status)
        tried += 1

    # SQL-injection strings (and friends) in every query parameter and in path values.
    r_ = OneShot(READER)
    for inj in INJECTIONS:
        for path, params in [("/subjects", {"subjectPrefix": inj}), ("/subjects", {"offset": inj}),
                             ("/subjects", {"limit": inj}), ("/subjects", {"deleted": inj}),
                             ("/schemas", {"subjectPrefix": inj, "latestOnly": inj}),
                             ("/subjects/hostile-value/versions", {"deleted": inj}),
                             ("/config/hostile-value", {"defaultToGlobal": inj})]:
            r = r_.get(base + path, params=params, timeout=10)
            # A prefix is just text: 200 with no match is fine; anything else must be a clean 4xx.
            assert r.status_code == 200 or 400 <= r.status_code < 500, (path, params, r.status_code)
            if r.status_code == 200 and "subjectPrefix" in params:
                assert r.json() == [], (inj, r.text[:200])
            tried += 1
        for path in [f"/subjects/hostile-value/versions/{inj}", f"/schemas/ids/{inj}"]:
            r = r_.get(base + "/" + requests.utils.quote(path.lstrip("/"), safe="/"), timeout=10)
            assert 400 <= r.status_code < 500, (path[:80], r.status_code)
            tried += 1
    assert_alive(base, proc)

    # Credentials: none, wrong password, unknown user, malformed headers, another scheme.
    for headers in [{}, {"Authorization": requests.auth._basic_auth_str("reader", "wrong")},
                    {"Authorization": requests.auth._basic_auth_str("nobody", "r-secret-1")},
                    {"Authorization": requests.auth._basic_auth_str("reader' OR '1'='1", "x")},
                    {"Authorization": "Basic !!!not-base64!!!"}, {"Authorization": "Basic "},
                    {"Authorization": "Basic cmVhZGVy"},  # "reader" without a colon
                    {"Authorization": "Bearer r-secret-1"}, {"Authorization": "basic"},
                    {"Authorization": "Basic " + "A" * 100_000}]:
        for method, path, body in [("GET", "/subjects", None), ("POST", "/subjects/hostile-value/versions",
                                                                 json.dumps({"schema": SCHEMA})),
                                   ("DELETE", "/subjects/hostile-value", None)]:
            try:
                r = requests.request(method, base + path, headers={**CT, **headers}, data=body, timeout=10)
            except requests.ConnectionError:
                continue  # an oversized header may be refused at the connection
            assert r.status_code in (400, 401, 431), (method, path, str(headers)[:60], r.status_code)
            tried += 1

    # The read-only user tries every write.
    for method, path, body in [
            ("POST", "/subjects/hostile-value/versions", {"schema": SCHEMA}),
            ("POST", "/subjects/new-from-reader-value/versions", {"schema": SCHEMA}),
            ("DELETE", "/subjects/hostile-value", None), ("DELETE", "/subjects/hostile-value?permanent=true", None),
            ("DELETE", "/subjects/hostile-value/versions/1", None), ("DELETE", "/subjects/hostile-value/versions/latest", None),
            ("PUT", "/config", {"compatibility": "NONE"}), ("PUT", "/config/hostile-value", {"compatibility": "NONE"}),
            ("DELETE", "/config/hostile-value", None), ("DELETE", "/config", None),
            ("PUT", "/mode", {"mode": "READONLY"}), ("PUT", "/mode?force=true", {"mode": "IMPORT"}),
            ("PUT", "/mode/hostile-value", {"mode": "READONLY"}), ("DELETE", "/mode/hostile-value", None)]:
        r = r_.request(method, base + path, headers=CT, data=json.dumps(body) if body else None, timeout=10)
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
        assert r.json()["error_code"] in (403, 40301)
        tried += 1

    assert_alive(base, proc)
    after = state(base)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    log = (tmp / "registry.log").read_text(errors="replace")
    assert "panicked" not in log, log[-2000:]
    assert "r-secret-1" not in log and "w-secret-1" not in log
    print(f"injected {tried} hostile requests into a private registry: every one 4xx, /health 200, "
          f"no panic, state of {len(before)} read endpoints identical before/after")


def test_shared_registry_survives_hostile_input():
    """The shared instance (no auth): garbage, nesting, size and path tricks, then still healthy and
    the subject used is still unknown (nothing was registered)."""
    subject = f"hostile-shared-{uuid.uuid4().hex}-value"
    url = f"{SHARED}/subjects/{subject}/versions"
    cases = [b'{"schema": ', b"\xff\xfe", b'{"schema":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
             b'{"schema":"' + b"x" * (3 * 1024 * 1024) + b'"}']
    for body in cases:
        r = requests.post(url, headers=CT, data=body, timeout=60)
        assert 400 <= r.status_code < 500, (body[:20], r.status_code)
    for path in [f"/subjects/..%2F{subject}/versions", "/subjects/%2e%2e/versions"]:
        status, _ = raw_request(SHARED, "POST", path, CT, json.dumps({"schema": SCHEMA}).encode(), timeout=10)
        assert 400 <= status < 500, (path, status)
    assert_alive(SHARED)
    r = requests.get(url, timeout=10)
    assert (r.status_code, r.json()["error_code"]) == (404, 40401)
    print(f"injected {len(cases) + 2} hostile requests into the shared registry: 4xx each, still healthy, nothing registered")


def test_connection_reusable_after_refused_write(registry):
    base, proc, _ = registry
    failures = 0
    for _ in range(200):
        s = requests.Session()
        s.auth = READER
        r = s.put(base + "/config", headers=CT, data=json.dumps({"compatibility": "NONE"}), timeout=10)
        assert r.status_code == 403
        try:
            assert s.get(base + "/subjects", timeout=10).status_code == 200
        except requests.ConnectionError:
            failures += 1
    print(f"200 refused writes, each followed by a read on the same connection: {failures} reads failed")
    assert proc.poll() is None
    assert failures == 0
