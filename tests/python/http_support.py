"""HTTP helpers shared by the Python tests that start their own service instances."""
import http.client
import pathlib
import socket
import subprocess
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_request(base: str, method: str, path: str, headers: dict | None = None, body: bytes = b"",
                timeout: float = 30):
    """Sends the path byte for byte (requests would normalise `..` and re-encode)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    if body:
        conn.send(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def wait_ready(base: str, proc: subprocess.Popen, log: pathlib.Path, timeout: float) -> None:
    """Waits until `base`/ready answers 200; fails with the log's tail if the process exits or
    `timeout` seconds pass first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(base + "/ready", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, log.read_text()[-2000:]
        time.sleep(0.2)
    raise AssertionError(f"{base} did not become ready in {timeout} s: " + log.read_text()[-2000:])
