"""Registry authorisation through Confluent's own Python client (confluent-kafka
SchemaRegistryClient with `basic.auth.user.info`), as a council developer would meet it: a private
registry with a users file (two councils with their own subject prefixes, a reader, an admin) on a
unique store topic and a free port. A council registers and configures its own subjects; on another
council's subject, and on the global config, the client raises SchemaRegistryError 403/40301; no
credentials is 401/40101. Requires the broker (LGMA_KAFKA_BOOTSTRAP) and `cargo build -p
lgma-registry` (or LGMA_REGISTRY_BIN)."""
import hashlib
import json
import os
import pathlib
import subprocess
import uuid

import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from http_support import free_port, wait_ready

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
USERS = {
    "dublin-city": ("d-secret-1", "write", '["dublin-city."]'),
    "cork-city": ("c-secret-1", "write", '["cork-city."]'),
    "analyst": ("r-secret-1", "read", None),
    "registry-admin": ("a-secret-1", "admin", None),
}
SCHEMA = json.dumps({"type": "record", "name": "Authz", "namespace": "lgma.test",
                     "fields": [{"name": "id", "type": "string"}]})


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = pathlib.Path(os.environ.get("LGMA_REGISTRY_BIN", ROOT / "target" / "debug" / "lgma-registry"))
    assert binary.exists(), "build it first: cargo build -p lgma-registry"
    tmp = tmp_path_factory.mktemp("authz-registry")
    users = tmp / "users.toml"
    users.write_text("".join(
        f'[[users]]\nname = "{name}"\npassword_sha256 = "{hashlib.sha256(pw.encode()).hexdigest()}"\n'
        f'role = "{role}"\n' + (f"subjects = {subjects}\n" if subjects else "")
        for name, (pw, role, subjects) in USERS.items()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp / "registry.log", "wb")
    env = dict(os.environ, LGMA_REGISTRY_KAFKA__BOOTSTRAP_SERVERS=KAFKA,
               LGMA_REGISTRY_AUTH__USERS_FILE=str(users), RUST_LOG="warn")
    env.pop("LGMA_REGISTRY_AUTH__ALLOW_ANONYMOUS", None)
    proc = subprocess.Popen(
        [str(binary), "--listen", f"127.0.0.1:{port}", "--topic", f"test._schemas.authz.{uuid.uuid4().hex}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_ready(base, proc, tmp / "registry.log", 60)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def client(base, user=None):
    conf = {"url": base}
    if user:
        conf["basic.auth.user.info"] = f"{user}:{USERS[user][0]}"
    return SchemaRegistryClient(conf)


def assert_denied(call, subject_or_global):
    with pytest.raises(SchemaRegistryError) as err:
        call()
    assert (err.value.http_status_code, err.value.error_code) == (403, 40301), err.value
    assert err.value.error_message.startswith("User is denied operation"), err.value
    assert subject_or_global in err.value.error_message, err.value


def test_councils_write_only_their_own_subjects_with_confluents_client(registry):
    suffix = uuid.uuid4().hex
    dublin_subject, cork_subject = f"dublin-city.app-{suffix}-value", f"cork-city.app-{suffix}-value"
    dublin, cork = client(registry, "dublin-city"), client(registry, "cork-city")
    reader, admin = client(registry, "analyst"), client(registry, "registry-admin")

    assert dublin.register_schema(dublin_subject, Schema(SCHEMA, "AVRO")) >= 1
    assert cork.register_schema(cork_subject, Schema(SCHEMA, "AVRO")) >= 1
    assert dublin.set_compatibility(dublin_subject, "FULL")["compatibility"] == "FULL"

    # Another council's subject: register, config, delete all refused with Confluent's 40301.
    assert_denied(lambda: dublin.register_schema(cork_subject, Schema(SCHEMA, "AVRO")), cork_subject)
    assert_denied(lambda: dublin.set_compatibility(cork_subject, "NONE"), cork_subject)
    assert_denied(lambda: dublin.delete_subject(cork_subject), cork_subject)
    assert_denied(lambda: reader.register_schema(f"analyst.{suffix}-value", Schema(SCHEMA, "AVRO")), "Subject")
    # Global compatibility: admin only.
    assert_denied(lambda: dublin.set_compatibility(level="NONE"), "Global")
    assert_denied(lambda: reader.set_compatibility(level="NONE"), "Global")
    assert admin.set_compatibility(level="FULL")["compatibility"] == "FULL"
    assert admin.set_compatibility(level="BACKWARD")["compatibility"] == "BACKWARD"

    # Reads and lookups stay open to every role; Cork's subject was not changed.
    for c in (dublin, reader, admin):
        assert c.get_versions(cork_subject) == [1]
        assert c.lookup_schema(cork_subject, Schema(SCHEMA, "AVRO")).version == 1
        assert c.test_compatibility(cork_subject, Schema(SCHEMA, "AVRO"))
    with pytest.raises(SchemaRegistryError) as err:
        reader.get_compatibility(cork_subject)
    assert err.value.error_code == 40408  # no subject-level config: Dublin's PUT never landed

    # The council deletes its own subject; no credentials at all is 401/40101.
    assert dublin.delete_subject(dublin_subject) == [1]
    with pytest.raises(SchemaRegistryError) as err:
        client(registry).get_subjects()
    assert (err.value.http_status_code, err.value.error_code) == (401, 40101)
