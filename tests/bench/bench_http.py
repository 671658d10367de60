"""Consent checks and the audience over HTTP, through the production server (DESIGN §7).

Run by `run.py --only http` after it has seeded the database (the BENCH_JSON convention of
README.md), or on its own against a seeded benchmark database:

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/consent_crm_bench_quick \\
        .venv/bin/python tests/bench/bench_http.py

It starts gunicorn with config/gunicorn.conf.py on a free loopback port, with the production
settings plus floor endpoints that only the benchmark's settings module serves
(tests/bench/http_settings.py → http_urls.py → http_floors.py), and measures:

* single checks, `POST /api/v1/consent-checks/` with a DRF token of a user who may only check,
  1,000 different addresses in turn, at concurrency 1, 4 and 16: throughput and p50/p95/p99
  (the median of BENCH_HTTP_ROUNDS rounds, default 3, of BENCH_HTTP_SECONDS each),
  driven by `wrk` (keep-alive connections; an event loop in C, so the client takes little of
  the two cores the server and PostgreSQL share, where a Python client would compete with the
  server it measures for the same CPU).
  Floors, the same way: a trivial view (the server, Django and the middleware), and the same
  lookups (token and permission included) by one hand-written statement behind a minimal view;
* the 10,000-address bulk check (one keep-alive connection, http.client, median of 5);
  floor: the same facts by one statement behind a minimal view;
* the audience CSV of the 1M-member list end to end (its body read to the end, chunked
  encoding checked by http.client, reason counts compared); floor: COPY of one statement
  producing the same rows, streamed by a minimal view, the fastest of two plans.

Before the load, answers are compared with the in-process decision. It writes only two users
(and their tokens) the server must see, committed, and deletes them at the end.
"""

import csv
import http.client
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]
sys.path[0] = str(REPO)  # the repository root
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.bench.database import require_postgres_url  # noqa: E402

require_postgres_url()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from consent.decision.bulk import decide_many  # noqa: E402
from consent.decision.single import decide  # noqa: E402
from consent.models import ComplianceProfile  # noqa: E402
from subjects.models import Contact  # noqa: E402
from tests.bench import figure_audience  # noqa: E402
from tests.bench.bench_checks import addresses  # noqa: E402
from tests.bench.results import Figure, table, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
LUA = HERE / "http_checks.lua"
CHECKS = "/api/v1/consent-checks/"
CONCURRENCY = (1, 4, 16)
ADDRESSES = 1000
BULK_SIZE = 10_000
BULK_RUNS = 5
FULL_SCALE = 1_000_000
BAR_RATE, BAR_P99_MS = 500, 100  # at concurrency 16, 1M (absolute)
BAR_BULK_MS, BAR_BULK_RATIO = 1000, 2.0
BAR_AUDIENCE_RATIO = 1.5
CHECKER, DPO = "bench-http-checker", "bench-http-dpo"


# ---------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environ(port: int) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.bench.http_settings",
        "DEBUG": "false",  # production
        "SECRET_KEY": settings.SECRET_KEY,
        "SUPPRESSION_HASH_KEY": settings.SUPPRESSION_HASH_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",  # TLS ends at the proxy in front
        "EMAIL_URL": os.environ.get("EMAIL_URL", "dummymail://"),  # required in production
        "LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_LOGLEVEL": "warning",
    }


@contextmanager
def gunicorn():
    """A production server on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
    process = subprocess.Popen(command, cwd=REPO, env=server_environ(port))
    try:
        wait_until_up(port, process)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}")
        try:
            status, _ = request(port, "POST", "/bench-floor/trivial/", b"{}")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within a minute")


def request(port, method, path, body=None, token="", connection=None) -> tuple[int, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


# ---------------------------------------------------------------------------------------------
# Users the server must see (committed), removed at the end


@contextmanager
def bench_tokens():
    users = get_user_model().objects
    users.filter(username__in=[CHECKER, DPO]).delete()  # left over by a crashed run
    checker = users.create_user(CHECKER)
    checker.user_permissions.add(Permission.objects.get(codename="check_consent"))
    dpo = users.create_user(DPO, is_superuser=True)
    try:
        yield Token.objects.create(user=checker).key, Token.objects.create(user=dpo).key
    finally:
        users.filter(username__in=[CHECKER, DPO]).delete()


# ---------------------------------------------------------------------------------------------
# Single checks under load (wrk)


def check_bodies(values, purpose, topic) -> list[dict]:
    return [
        {"channel": "email", "value": value, "purpose": purpose.pk}
        | ({"topic": topic.pk} if n % 2 else {})
        for n, value in enumerate(values)
    ]


def verify_answers(port, token, bodies) -> None:
    """The server's answers are the in-process decision's; the floors answer 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for body in bodies[:50]:
        status, content = request(
            port, "POST", CHECKS, json.dumps(body).encode(), token, connection
        )
        expected = decide(**body)
        wanted = [expected.allowed, expected.reason, expected.tracking_allowed]
        got = json.loads(content)
        if status != 200 or [got["allowed"], got["reason"], got["tracking_allowed"]] != wanted:
            sys.exit(f"{body}: the server answered {status} {content[:300]!r}, not {wanted}")
        for path in ("/bench-floor/trivial/", "/bench-floor/check/"):
            status, content = request(
                port, "POST", path, json.dumps(body).encode(), token, connection
            )
            if status != 200:
                sys.exit(f"{path} answered {status}: {content[:300]!r}")
    connection.close()


def wrk(port, bodies_file, token, path, concurrency, seconds) -> dict:
    threads = 1 if concurrency < 8 else 2
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "10s",  # a slow answer counts in the latencies, not as an error
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{path}",
        "--",
        str(bodies_file),
        token,
        path,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


ENDPOINTS = {"app": CHECKS, "sql": "/bench-floor/check/", "trivial": "/bench-floor/trivial/"}


def load_figures(port, token, bodies, seconds, rounds) -> dict:
    """{(endpoint, concurrency): wrk's figures}, each the median of the rounds. The endpoints
    take turns within each round, so a machine whose load drifts slows them alike."""
    runs: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bodies_file = Path(tmp) / "bodies.jsonl"
        bodies_file.write_text("".join(json.dumps(body) + "\n" for body in bodies))
        for path in ENDPOINTS.values():
            wrk(port, bodies_file, token, path, 16, 2)  # warm every worker and connection
        for _ in range(rounds):
            for concurrency in CONCURRENCY:
                for name, path in ENDPOINTS.items():
                    result = wrk(port, bodies_file, token, path, concurrency, seconds)
                    runs.setdefault((name, concurrency), []).append(result)
                    print(f"  {name:8} c={concurrency:<3} {summary(result)}", flush=True)
    return {key: median_run(results) for key, results in runs.items()}


def median_run(results: list[dict]) -> dict:
    """Each figure (rate, p50, p95, p99) the median of its rounds, as the issue measured
    them; errors are summed over every round, so one failing round still fails the bar. (The
    round with the median rate carried its own p99: one round's scheduling hiccup, 133 ms in
    a round whose neighbours had 30 and 41 ms, decided the p99 of all three.)"""
    merged = dict(results[0])
    for key in ("rate", "p50_us", "p95_us", "p99_us"):
        merged[key] = statistics.median(result[key] for result in results)
    for key in ("status_errors", "socket_errors"):
        merged[key] = sum(result[key] for result in results)
    return merged


def summary(result: dict) -> str:
    errors = result["status_errors"] + result["socket_errors"]
    return (
        f"{result['rate']:,.0f}/s p50 {result['p50_us'] / 1000:.2f} ms p95 "
        f"{result['p95_us'] / 1000:.2f} ms p99 {result['p99_us'] / 1000:.2f} ms"
        + (f"; {errors} errors" if errors else "")
    )


def load_rows(measured: dict, full_scale: bool, rounds: int) -> list[Figure]:
    rows = []
    for concurrency in CONCURRENCY:
        app, sql, trivial = (measured[name, concurrency] for name in ("app", "sql", "trivial"))
        errors = app["status_errors"] + app["socket_errors"]
        bar, passed = "info", None
        if concurrency == 16:
            bar = f"≥ {BAR_RATE}/s, p99 ≤ {BAR_P99_MS} ms (at 1M)"
            meets = app["rate"] >= BAR_RATE and app["p99_us"] / 1000 <= BAR_P99_MS
            passed = (meets and not errors) if full_scale else (False if errors else None)
        rows.append(
            Figure(
                f"HTTP single checks, concurrency {concurrency} (gunicorn, wrk)",
                app["rate"],
                sql["rate"],
                bar,
                passed,
                unit="/s",
                note=f"app {summary(app)}; floor one SQL {summary(sql)}; "
                f"trivial view {summary(trivial)}; each figure the median of {rounds} rounds; "
                "ratio = share of the floor's rate"
                + ("" if full_scale or concurrency != 16 else "; absolute bar applies at 1M"),
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Bulk check and audience (http.client, keep-alive)


def timed_request(connection, method, path, body, token) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    status, content = request(None, method, path, body, token, connection)
    return time.perf_counter() - started, status, content


def bulk_row(port, token, bodies, full_scale) -> Figure:
    body = json.dumps({"checks": bodies}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def median_ms(path) -> tuple[float, bytes]:
        _, status, content = timed_request(connection, "POST", path, body, token)  # warm
        if status != 200:
            sys.exit(f"{path} answered {status}: {content[:300]!r}")
        runs = [timed_request(connection, "POST", path, body, token) for _ in range(BULK_RUNS)]
        return statistics.median(run[0] for run in runs) * 1000, content

    app_ms, content = median_ms(CHECKS)
    floor_ms, _ = median_ms("/bench-floor/bulk-check/")
    connection.close()
    results = json.loads(content)["results"]
    expected = decide_many(bodies)
    agree = [(r["allowed"], r["reason"]) for r in results] == [
        (d.allowed, d.reason) for d in expected
    ]
    ratio_ok = app_ms <= BAR_BULK_RATIO * floor_ms
    passed = agree and ratio_ok and (app_ms <= BAR_BULK_MS or not full_scale)
    return Figure(
        f"HTTP bulk check, {len(bodies):,} addresses (gunicorn)",
        app_ms,
        floor_ms,
        f"≤ {BAR_BULK_RATIO:g}× floor; ≤ {BAR_BULK_MS} ms (at 1M)",
        passed,
        unit="ms",
        note=f"median of {BULK_RUNS}, one keep-alive connection; "
        f"{sum(r['allowed'] for r in results):,} allowed; "
        + ("answers agree with in-process decide_many" if agree else "ANSWERS DIFFER")
        + "; floor: the same facts by one SQL statement",
    )


def download(port, path, token="") -> tuple[float, bytes]:
    """Seconds to read the whole body (http.client raises on a cut chunked body), and it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    headers = {"Authorization": f"Token {token}"} if token else {}
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    chunks = []
    while chunk := response.read(1 << 20):
        chunks.append(chunk)
    seconds = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        sys.exit(f"{path} answered {response.status}: {b''.join(chunks)[:300]!r}")
    return seconds, b"".join(chunks)


def reasons(body: bytes, *, header: bool) -> Counter:
    rows = csv.reader(io.StringIO(body.decode()))
    if header:
        next(rows)
    return Counter(row[4] for row in rows)


def audience_row(port, token, runs) -> Figure:
    marketing_list = figure_audience.everyone_list()
    params = figure_audience.floor_params(marketing_list)
    app_path = (
        f"/api/v1/marketing-lists/{marketing_list.pk}/audience/?channel=email&"
        f"purpose={params['purpose']}&topic={params['topic']}&format=csv"
    )
    floor_path = "/bench-floor/audience.csv?" + "&".join(f"{k}={v}" for k, v in params.items())
    download(port, floor_path)  # warm the cache for both alike
    floors = {
        plan: min(download(port, f"{floor_path}&plan={quote(plan)}")[0] for _ in range(runs))
        for plan in ("default", "hash joins, 64 MB")
    }
    plan = min(floors, key=floors.get)
    _, floor_body = download(port, f"{floor_path}&plan={quote(plan)}")
    app_runs = [download(port, app_path, token) for _ in range(runs)]
    seconds, body = min(app_runs, key=lambda run: run[0])
    got, expected = reasons(body, header=True), reasons(floor_body, header=False)
    agree = got == expected
    return Figure(
        f"HTTP audience CSV, {sum(got.values()):,} rows (gunicorn, end to end)",
        seconds,
        floors[plan],
        f"≤ {BAR_AUDIENCE_RATIO}× floor; every row (no truncated 200)",
        agree and seconds <= BAR_AUDIENCE_RATIO * floors[plan],
        unit="s",
        note=f"{len(body) / 1e6:,.1f} MB read to the end; "
        + ("reasons agree with the floor" if agree else f"REASONS DIFFER: {got} vs {expected}")
        + f"; floor: COPY of one SQL statement as CSV behind a minimal view, plan {plan}",
    )


# ---------------------------------------------------------------------------------------------


def measure(contacts: int) -> list[Figure]:
    full_scale = contacts >= FULL_SCALE
    seconds = int(os.environ.get("BENCH_HTTP_SECONDS", 10 if full_scale else 5))
    rounds = int(os.environ.get("BENCH_HTTP_ROUNDS", 3))
    purpose = ComplianceProfile.objects.default().purposes.get(kind="commercial")
    topic = purpose.topics.order_by("pk").first()
    values = addresses(BULK_SIZE)
    bodies = check_bodies(values, purpose, topic)
    with bench_tokens() as (check_token, dpo_token), gunicorn() as port:
        verify_answers(port, check_token, bodies)
        measured = load_figures(port, check_token, bodies[:ADDRESSES], seconds, rounds)
        figures = load_rows(measured, full_scale, rounds)
        figures.append(bulk_row(port, check_token, bodies, full_scale))
        figures.append(audience_row(port, dpo_token, runs=1 if full_scale else 2))
    return figures


def main() -> int:
    settings.DEBUG = False
    contacts = int(os.environ.get("BENCH_CONTACTS") or Contact.objects.count())
    print(f"Load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if not Contact.objects.exists():
        sys.exit("The database holds no contacts: seed it with tests/bench/run.py first.")
    if shutil.which("wrk") is None:
        figure = Figure("HTTP benchmarks", None, None, "", None, unit="")
        figure.note = "skipped: wrk is not installed (Debian: apt-get install wrk)"
        write_json([figure])
        print(figure.note)
        return 0
    figures = measure(contacts)
    print()
    print(table(figures))
    print(f"Load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    write_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
