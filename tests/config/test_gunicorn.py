"""config/gunicorn.conf.py: keep-alive connections, and streams that outlive the worker timeout.

The live tests start gunicorn with the production configuration (its timeout lowered to 3 s)
serving a tiny WSGI app (stream_app.py), and talk to it over loopback. It is 3 s, not
1 s: the gthread worker reports that it is alive about once a second, so a 1 s timeout killed it
whenever the CI machine was busy (a kill the test then read as a cut stream).
"""

import http.client
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "gunicorn.conf.py"


def load(**environ) -> dict:
    saved = dict(os.environ)
    os.environ.update(environ)
    try:
        return runpy.run_path(str(CONFIG))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_threaded_workers_with_keep_alive_and_no_periodic_restarts():
    config = load()
    assert config["worker_class"] == "gthread"
    assert config["threads"] > 1 and config["keepalive"] > 0
    assert config["max_requests"] == 0  # a restart would cut streams in flight
    assert config["graceful_timeout"] >= config["timeout"]
    assert config["preload_app"] is True


def test_the_environment_overrides_each_value():
    config = load(GUNICORN_WORKERS="7", GUNICORN_THREADS="2", GUNICORN_TIMEOUT="5")
    assert (config["workers"], config["threads"], config["timeout"]) == (7, 2, 5)


@pytest.fixture(scope="module")
def server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_TIMEOUT": "3",
        "GUNICORN_LOGLEVEL": "warning",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "tests.config.stream_app"]
    process = subprocess.Popen(command, cwd=REPO, env=environ)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_one_connection_serves_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    for _ in range(3):
        connection.request("GET", "/")
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
        assert response.getheader("Connection", "").lower() != "close"
    local_ports = {connection.sock.getsockname()[1]}
    connection.request("GET", "/")
    connection.getresponse().read()
    assert {connection.sock.getsockname()[1]} == local_ports  # the same socket all along
    connection.close()


def test_a_stream_longer_than_the_worker_timeout_arrives_whole(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    connection.request("GET", "/stream?2")
    response = connection.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"  # a cut would be detectable
    assert response.read() == b"line 0\nline 1\n"  # 4 s between lines, with a 3 s timeout
    connection.close()


def test_a_worker_never_scans_what_the_master_loaded(server):
    # pre_fork freezes the loaded application: the worker's cycle collector skips it, which
    # kept full collections from setting the checks' p99 (docs/performance.md).
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    connection.request("GET", "/gc")
    frozen, scanned = connection.getresponse().read().decode().split()
    connection.close()
    assert int(frozen.removeprefix("frozen=")) > 1000  # the app's objects, at least
    assert scanned == "scanned=False"
