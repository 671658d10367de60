"""A WSGI app for tests/config/test_gunicorn.py: a small answer, or a slow stream."""

import time


def application(environ, start_response):
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _slow_lines(int(environ["QUERY_STRING"] or 2))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _slow_lines(count: int):
    for n in range(count):
        time.sleep(2)
        yield f"line {n}\n".encode()
