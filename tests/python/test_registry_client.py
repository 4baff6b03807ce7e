"""Our registry used the way a council developer would use Confluent's: confluent-kafka's
SchemaRegistryClient, and SerializingProducer/DeserializingConsumer with Avro serdes through the
real broker. Runs against the stack (LGMA_REGISTRY_URL, LGMA_KAFKA_BOOTSTRAP)."""
import json
import uuid

import pytest
from confluent_kafka import DeserializingConsumer, SerializingProducer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.error import ValueSerializationError
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import StringDeserializer, StringSerializer


def presentation(extra_fields=()):
    return json.dumps(
        {
            "type": "record",
            "name": "Presentation",
            "namespace": "lgma.homelessness",
            "fields": [
                {"name": "presentation_id", "type": "string"},
                {"name": "client_ppsn", "type": "string", "pii": "direct"},
                {"name": "adults", "type": "int"},
                *extra_fields,
            ],
        }
    )


V1 = presentation()
V2 = presentation([{"name": "dependants", "type": "int", "default": 0}])
V_BAD = presentation([{"name": "gender", "type": "string"}])  # no default: not BACKWARD


@pytest.fixture()
def client(registry_url):
    return SchemaRegistryClient({"url": registry_url})


@pytest.fixture()
def subject():
    return f"pytest.registry.{uuid.uuid4().hex}-value"


@pytest.fixture()
def topic(kafka_bootstrap):
    name = f"test.pytest.registry.{uuid.uuid4().hex}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=30)
    return name


def test_register_get_lookup_versions(client, subject):
    sid = client.register_schema(subject, Schema(V1, "AVRO"))
    assert sid >= 1
    # Same schema again (key order and whitespace changed): same id.
    reordered = json.dumps(json.loads(V1), indent=4, sort_keys=True)
    assert client.register_schema(subject, Schema(reordered, "AVRO")) == sid

    fetched = client.get_schema(sid)
    assert json.loads(fetched.schema_str) == json.loads(V1)
    assert fetched.schema_type == "AVRO"

    found = client.lookup_schema(subject, Schema(V1, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (sid, 1, subject)

    sid2 = client.register_schema(subject, Schema(V2, "AVRO"))
    assert sid2 != sid
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, sid2)
    assert client.get_version(subject, 1).schema_id == sid
    assert client.get_versions(subject) == [1, 2]
    assert subject in client.get_subjects()
    # Other tests register the same V1 elsewhere: this subject must be among its users.
    assert subject in client.get_subjects_by_schema_id(sid)
    assert any(v.subject == subject and v.version == 1 for v in client.get_schema_versions(sid))
    assert "AVRO" in client.get_schema_types()


def test_pii_tag_change_is_a_new_schema(client, subject):
    client.set_compatibility(subject, "NONE")
    a = client.register_schema(subject, Schema(V1, "AVRO"))
    b = client.register_schema(subject, Schema(V1.replace('"direct"', '"pseudonymised"'), "AVRO"))
    assert a != b


def test_compatibility_and_config(client, subject):
    client.register_schema(subject, Schema(V1, "AVRO"))
    assert client.test_compatibility(subject, Schema(V2, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(V_BAD, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as err:
        client.register_schema(subject, Schema(V_BAD, "AVRO"))
    assert err.value.http_status_code == 409
    assert err.value.error_code == 40901  # Confluent 8 Errors.INCOMPATIBLE_SCHEMA_ERROR_CODE

    assert client.get_compatibility() in {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FULL", "NONE",
                                          "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"}
    with pytest.raises(SchemaRegistryError) as err:
        client.get_compatibility(subject)  # no subject-level config yet
    assert err.value.error_code == 40408
    client.set_compatibility(subject, "FORWARD")
    assert client.get_compatibility(subject) == "FORWARD"
    assert client.get_config(subject).compatibility_level.value == "FORWARD"
    # Under FORWARD a field without default is fine.
    client.register_schema(subject, Schema(V_BAD, "AVRO"))
    client.delete_config(subject)
    with pytest.raises(SchemaRegistryError):
        client.get_compatibility(subject)


def test_errors_and_deletes(client, subject):
    with pytest.raises(SchemaRegistryError) as err:
        client.get_latest_version(subject)
    assert err.value.error_code == 40401
    with pytest.raises(SchemaRegistryError) as err:
        client.register_schema(subject, Schema('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}', "AVRO"))
    assert err.value.error_code == 42201
    with pytest.raises(SchemaRegistryError) as err:
        client.get_schema(2_000_000_000)
    assert err.value.error_code == 40403

    client.register_schema(subject, Schema(V1, "AVRO"))
    client.register_schema(subject, Schema(V2, "AVRO"))
    with pytest.raises(SchemaRegistryError) as err:
        client.get_version(subject, 7)
    assert err.value.error_code == 40402
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert client.delete_subject(subject) == [2]
    assert subject not in client.get_subjects()
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError) as err:
        client.get_versions(subject)
    assert err.value.error_code == 40401


def _consume(kafka_bootstrap, topic, deserializer, n):
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"pytest-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": deserializer,
        }
    )
    consumer.subscribe([topic])
    out = []
    try:
        for _ in range(300):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.key(), msg.value()))
            if len(out) == n:
                break
    finally:
        consumer.close()
    return out


def _produce(kafka_bootstrap, topic, serializer, records):
    producer = SerializingProducer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "key.serializer": StringSerializer("utf_8"),
            "value.serializer": serializer,
        }
    )
    for rec in records:
        producer.produce(topic, key=rec["presentation_id"], value=rec)
    assert producer.flush(30) == 0


def test_round_trip_with_auto_registration(client, topic, kafka_bootstrap):
    records = [{"presentation_id": f"P-{i}", "client_ppsn": "6433435F", "adults": i} for i in range(5)]
    serializer = AvroSerializer(client, V1, conf={"auto.register.schemas": True})
    _produce(kafka_bootstrap, topic, serializer, records)
    # The serializer registered the schema under the topic's value subject.
    latest = client.get_latest_version(f"{topic}-value")
    assert json.loads(latest.schema.schema_str) == json.loads(V1)
    got = _consume(kafka_bootstrap, topic, AvroDeserializer(client), len(records))
    assert got == [(r["presentation_id"], r) for r in records]


def test_round_trip_without_auto_registration_uses_latest_version(client, topic, kafka_bootstrap):
    subject = f"{topic}-value"
    # Not registered yet: a serializer that may not register refuses to produce.
    strict = AvroSerializer(client, V1, conf={"auto.register.schemas": False})
    with pytest.raises(ValueSerializationError):
        _produce(kafka_bootstrap, topic, strict, [{"presentation_id": "X", "client_ppsn": "6433435F", "adults": 1}])

    client.register_schema(subject, Schema(V1, "AVRO"))
    v2_id = client.register_schema(subject, Schema(V2, "AVRO"))
    # Looks up the exact schema it was given (POST /subjects/{s}): v1.
    by_lookup = AvroSerializer(client, V1, conf={"auto.register.schemas": False})
    _produce(kafka_bootstrap, topic, by_lookup, [{"presentation_id": "L-1", "client_ppsn": "6433435F", "adults": 1}])
    # use.latest.version: serialises with v2 (the default fills `dependants`).
    latest = AvroSerializer(client, V1, conf={"auto.register.schemas": False, "use.latest.version": True})
    _produce(kafka_bootstrap, topic, latest, [{"presentation_id": "L-2", "client_ppsn": "6433435F", "adults": 2, "dependants": 3}])

    got = _consume(kafka_bootstrap, topic, AvroDeserializer(client), 2)
    assert got[0] == ("L-1", {"presentation_id": "L-1", "client_ppsn": "6433435F", "adults": 1})
    assert got[1] == ("L-2", {"presentation_id": "L-2", "client_ppsn": "6433435F", "adults": 2, "dependants": 3})

    # A reader-schema deserializer (v2) reads v1 data with the default.
    reader = AvroDeserializer(client, V2)
    got = _consume(kafka_bootstrap, topic, reader, 2)
    assert got[0][1] == {"presentation_id": "L-1", "client_ppsn": "6433435F", "adults": 1, "dependants": 0}
    assert client.get_latest_version(subject).schema_id == v2_id


ADDRESS = json.dumps(
    {
        "type": "record",
        "name": "Address",
        "namespace": "lgma.common",
        "fields": [{"name": "line1", "type": "string"}, {"name": "eircode", "type": ["null", "string"], "default": None}],
    }
)
HOUSEHOLD = json.dumps(
    {
        "type": "record",
        "name": "Household",
        "namespace": "lgma.housing",
        "fields": [{"name": "household_id", "type": "string"}, {"name": "address", "type": "lgma.common.Address"}],
    }
)


def test_references_and_data_contracts_round_trip(client, topic, kafka_bootstrap):
    """Schema references (Confluent `AbstractSchemaProvider.resolveReferences`,
    `SubjectVersionsResource.getReferencedBy`, `ReferenceExistsException` 42206) and data-contract
    metadata / rule sets (Confluent 7.4+ `metadata`, `ruleSet`) through the standard client and
    its Avro serdes on the real broker."""
    from confluent_kafka.schema_registry import Metadata, MetadataProperties, Rule, RuleKind, RuleMode, RuleSet, SchemaReference

    address_subject = f"pytest.registry.{uuid.uuid4().hex}.address"
    client.register_schema(address_subject, Schema(ADDRESS, "AVRO"))
    refs = [SchemaReference("lgma.common.Address", address_subject, 1)]
    metadata = Metadata(None, MetadataProperties({"owner": "housing", "pii": "indirect"}), None)
    rule_set = RuleSet(
        None,
        [Rule("householdId", None, RuleKind.CONDITION, RuleMode.WRITE, "CEL", None, None,
              "message.household_id != ''", None, None, True)],  # disabled: no CEL executor needed
    )
    subject = f"{topic}-value"
    registered = client.register_schema_full_response(subject, Schema(HOUSEHOLD, "AVRO", refs, metadata, rule_set))
    assert registered.schema_id >= 1

    latest = client.get_latest_version(subject)
    assert [(r.name, r.subject, r.version) for r in latest.schema.references] == [
        ("lgma.common.Address", address_subject, 1)
    ]
    assert latest.schema.metadata.properties.properties == {"owner": "housing", "pii": "indirect"}
    assert latest.schema.rule_set.domain_rules[0].name == "householdId"
    by_id = client.get_schema(registered.schema_id)
    assert by_id.references[0].subject == address_subject
    assert by_id.metadata.properties.properties["owner"] == "housing"
    # Same schema, references and contract again: same id; lookup finds version 1.
    assert client.register_schema(subject, Schema(HOUSEHOLD, "AVRO", refs, metadata, rule_set)) == registered.schema_id
    assert client.lookup_schema(subject, Schema(HOUSEHOLD, "AVRO", refs, metadata, rule_set)).version == 1
    assert client.get_referenced_by(address_subject, 1) == [registered.schema_id]
    with pytest.raises(SchemaRegistryError) as err:
        client.delete_version(address_subject, 1)
    assert err.value.error_code == 42206

    # The serdes resolve the referenced type (serializer by lookup, deserializer by id + references).
    records = [{"household_id": "H-1", "address": {"line1": "1 Main St", "eircode": "D02X285"}}]
    serializer = AvroSerializer(client, Schema(HOUSEHOLD, "AVRO", refs), conf={"auto.register.schemas": False, "use.latest.version": True})
    producer = SerializingProducer(
        {"bootstrap.servers": kafka_bootstrap, "key.serializer": StringSerializer("utf_8"), "value.serializer": serializer}
    )
    for rec in records:
        producer.produce(topic, key=rec["household_id"], value=rec)
    assert producer.flush(30) == 0
    got = _consume(kafka_bootstrap, topic, AvroDeserializer(client), len(records))
    assert got == [(r["household_id"], r) for r in records]
