"""The production files in infra/deploy/ load as written: bash exports every variable of
production.env.example, and the services read its SASL_SSL, HTTPS, CA and `${file:...}` secret
settings (secrets from files, printed redacted) — without development mode."""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "infra/deploy/production.env.example"


def production_env(tmp_path: pathlib.Path) -> dict[str, str]:
    """The file's variables as bash exports them, secret files created under tmp_path."""
    text = ENV_FILE.read_text()
    for path in set(re.findall(r"\$\{file:(/run/secrets/[^}]+)\}", text)):
        local = tmp_path / pathlib.Path(path).name
        local.write_text(f"secret-of-{local.name}-{os.getpid()}\n")
        text = text.replace(path, str(local))
    env_file = tmp_path / "production.env"
    env_file.write_text(text)
    out = subprocess.run(["bash", "-c", f"set -euo pipefail; set -a; source {env_file}; env -0"],
                         capture_output=True, timeout=30, env={"PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr.decode()
    pairs = (item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("LGMA_", "RUST_LOG"))}


def test_production_env_exports_and_ingest_reads_it(tmp_path):
    env = production_env(tmp_path)
    assert "LGMA_DEV_MODE" not in env
    assert env["LGMA_INGEST_KAFKA__PROPERTIES__SASL_PASSWORD"].startswith("${file:")
    run_env = {"PATH": os.environ["PATH"], **env}
    out = subprocess.run([str(ROOT / "target/debug/lgma-ingest"), "print-config", "--config",
                          str(ROOT / "infra/config/ingest.toml")],
                         capture_output=True, text=True, timeout=60, env=run_env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert '"security.protocol" = "SASL_SSL"' in text or 'security_protocol = "SASL_SSL"' in text, text
    assert "https://clickhouse.internal:8443" in text and "/etc/lgma/ca.pem" in text
    # The stack's file publishes uncompressed (tansu inflates every batch); production's says lz4.
    assert 'enriched_compression = "lz4"' in text, text
    # Likewise headers: off in the stack's file (tansu's INSERT per header), on in production.
    assert "enriched_headers = true" in text, text
    assert "secret-of-" not in text, "a secret read from a file was printed"
    assert "change-me" not in text, "registry credentials in the URL were printed"
