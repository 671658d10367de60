"""Subprocess of figure (a): stream one audience as CSV and report time, rows and peak RSS.

Usage (run.py does this): audience_child.py LIST_ID CHANNEL PURPOSE_ID [TOPIC_ID]
Prints one JSON line. Its own process, so `ru_maxrss` is the audience's peak, not the harness's.
"""

import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the repository, not tests/bench
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB.

    VmHWM (Linux) is the high-water mark of this process's own memory. ru_maxrss is only the
    fallback: Linux carries it over exec from the forking parent, so a child of a big parent
    would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(list_id: str, channel: str, purpose: str, topic: str | None = None) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from common.csvutil import csv_lines
    from marketing_lists import audience
    from marketing_lists.models import MarketingList

    settings.DEBUG = False  # as in production: no SQL kept in memory per query
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    request = audience.audience_request(
        marketing_list=MarketingList.objects.get(pk=int(list_id)),
        channel=channel,
        purpose=purpose,
        topic=topic,
    )
    baseline = peak_rss_mb()
    reasons: Counter = Counter()

    def counted():
        for row in audience.audience_csv_rows(request):
            reasons[row[4]] += 1
            yield row

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        size = sum(len(line) for line in csv_lines(audience.CSV_HEADER, counted()))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": size,
        "rows": sum(reasons.values()),
        "recipients": reasons["opted_in"],
        "reasons": dict(reasons),
        "queries": queries,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
