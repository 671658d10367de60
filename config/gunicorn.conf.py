"""gunicorn in production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be overridden from the environment (GUNICORN_*), or on the command line. Why
these values: docs/deployment.md; the benchmark that measured them: tests/bench/bench_http.py.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Threaded workers, not the default sync ones, for two reasons:
# * keep-alive: the sync worker closes the connection after every response, so a sending
#   system that checks consent before each message would pay a TCP handshake per check;
# * streaming: a gthread worker's main thread keeps telling the arbiter it is alive while a
#   request thread streams, so `timeout` never kills a worker in the middle of a long audience
#   or export (a sync worker busy for `timeout` seconds is killed, and the response cut).
worker_class = "gthread"
# Per worker: one Python interpreter, so CPU-bound work (the request path is mostly Python)
# scales with workers; threads cover the waits on PostgreSQL and slow clients.
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Open client connections per worker, kept-alive ones included.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))
# Seconds an idle kept-alive connection stays open. Behind a load balancer, longer than its
# idle timeout (AWS ALB: 60 s), so the balancer, not gunicorn, closes idle connections.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 75))
# A worker whose main loop is stuck this long is killed and replaced (not a request limit:
# see above). On SIGTERM (deploys) in-flight requests get graceful_timeout to finish: it bounds
# the longest stream a deploy lets complete, so keep it above the longest audience download.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 300))
# No periodic worker restarts by default: a restart ends in-flight streams after
# graceful_timeout. Set GUNICORN_MAX_REQUESTS (with some jitter) if a leak ever needs it.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 0))
# Django loaded once, before the fork: workers share its pages and start faster. It opens no
# database connection at import, so no connection is shared between processes.
preload_app = True


def pre_fork(server, worker):
    """Freeze what the master loaded into Python's permanent generation before each fork
    (Python's own recipe for pre-forking servers, `gc.freeze()`): a worker's cycle collector
    then never scans the ~125,000 objects of the loaded application, only the worker's own.
    Each request leaves cyclic garbage (Django's and DRF's request, view and response point at
    each other), so full collections are frequent; unfrozen, one took 150–320 ms in a worker
    under load and set the checks' p99; frozen, 7–75 ms (docs/performance.md). The frozen
    objects are also never written to by the collector, so the workers keep sharing their
    memory pages with the master."""
    gc.freeze()


# No control socket (gunicorn ≥ 25): its default path is per user, not per server, so a second
# server on the host (a benchmark, a test) would take it over.
# GUNICORN_CONTROL_SOCKET=/run/consent-crm/gunicorn.ctl turns it on, at that path.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
# Access logs cost a write per request; the proxy in front usually keeps them.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# gunicorn trusts X-Forwarded-* only from FORWARDED_ALLOW_IPS (its own environment variable,
# default 127.0.0.1): set it to the proxy's address.
