"""Topics for Python tests, created exactly as the stack creates them: the definitions in
infra/kafka/topics.toml (retention, cleanup policy...) with a test suffix, through the stack's own
infra/tools/topics.py, so a setting that loses records fails a test instead of reaching users."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("LGMA_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
sys.path.insert(0, str(ROOT / "infra" / "tools"))
from topics import read_properties  # noqa: E402

# The client configuration of the stack's tools: bootstrap plus, in the TLS profile
# (LGMA_TLS=1), SASL_SSL, SCRAM credentials and the CA from $LGMA_KAFKA_CLIENT_PROPERTIES.
KAFKA_CONF = {"bootstrap.servers": KAFKA}
if os.environ.get("LGMA_KAFKA_CLIENT_PROPERTIES"):
    KAFKA_CONF.update(read_properties(os.environ["LGMA_KAFKA_CLIENT_PROPERTIES"]))
COUNCIL_TOPICS = [
    "lgma.homelessness.presentation", "lgma.homelessness.placement", "lgma.homelessness.exit",
    "lgma.housing.dwelling-unit", "lgma.housing.need-assessment", "lgma.planning.application",
    "lgma.waste.return",
]


def create_defined(suffix: str, names: list[str], partitions: int | None = None) -> None:
    """Creates `names` (as defined) with `suffix` appended; `partitions` overrides the count."""
    cmd = [sys.executable, str(ROOT / "infra/tools/topics.py"), "--bootstrap", KAFKA, f"--suffix={suffix}", "--quiet"]
    for name in names:
        cmd += ["--only", name]
    if partitions is not None:
        cmd += ["--partitions", str(partitions)]
    result = subprocess.run([*cmd, str(ROOT / "infra/kafka/topics.toml")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"topics.py failed: {result.stdout}{result.stderr}"
