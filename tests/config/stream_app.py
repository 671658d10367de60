"""A WSGI app for tests/config/test_gunicorn.py: a small answer, or a slow stream."""

import gc
import time

# Loaded by the master (preload_app) before it forks the worker.
LOADED_BEFORE_FORK = [{"n": n} for n in range(1000)]


def application(environ, start_response):
    if environ["PATH_INFO"] == "/gc":  # does this worker's collector scan what the master loaded?
        scanned = any(obj is LOADED_BEFORE_FORK for obj in gc.get_objects())
        body = f"frozen={gc.get_freeze_count()} scanned={scanned}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _slow_lines(int(environ["QUERY_STRING"] or 2))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


# Longer than the tests' worker timeout (3 s) by a margin a loaded two-core CI machine keeps.
GAP_SECONDS = 4


def _slow_lines(count: int):
    for n in range(count):
        time.sleep(GAP_SECONDS)
        yield f"line {n}\n".encode()
