"""Settings of the server bench_http.py starts: production settings, plus the floor views.

The floor endpoints exist only under this settings module (tests/bench/http_urls.py); the
production URLconf never has them.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.http_urls"
