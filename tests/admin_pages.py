"""The admin as a crawler sees it: every page a superuser reaches by following the links of the
pages, from the index, plus the answers only a form opens (a consent check and its explanation,
a check as of a past day). Pages of one shape (the same route with other ids, sort orders or
filters) are fetched once; each `?view=` of a changelist is its own page.

tests/security/test_csp.py parses every page it returns for inline scripts and styles, so a
template added later is covered as soon as a link leads to it."""

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

# Not pages: downloads, the logout, redirects to the public site, the admin's JavaScript catalog.
NOT_PAGES = re.compile(r"\.csv$|/pdf/$|^/admin/logout/|^/admin/r/|^/admin/jsi18n/")
KEPT_QUERY = ("view", "trend")  # query parameters that make another page, not another order


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def shape(url: str) -> str:
    """The page a URL stands for: its route with every id as N, and the query that matters."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/)", "/N", parts.path)
    kept = sorted((k, v) for k, v in parse_qsl(parts.query) if k in KEPT_QUERY)
    return path + ("?" + "&".join(f"{k}={v}" for k, v in kept) if kept else "")


def links_of(url: str, html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        if parts.scheme or parts.netloc or not parts.path.startswith("/admin/"):
            continue
        if NOT_PAGES.search(parts.path):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def crawl(client, *, start=("/admin/",), extra=(), limit: int = 800) -> dict[str, object]:
    """{url: response} of every admin page of a distinct shape reachable from `start`, and
    of the `extra` URLs. Only GETs: no admin page writes on a GET."""
    pages: dict[str, object] = {}
    seen: set[str] = set()
    queue = deque([*start, *extra])
    while queue and len(pages) < limit:
        url = queue.popleft()
        if shape(url) in seen:
            continue
        seen.add(shape(url))
        response = client.get(url)
        pages[url] = response
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            queue.extend(links_of(url, response.content.decode()))
        elif response.status_code in (301, 302) and response["Location"].startswith("/admin/"):
            queue.append(response["Location"])  # e.g. a load's change URL → its load page
    left = {shape(url) for url in queue} - seen
    assert not left, f"more than {limit} admin pages (raise the limit): {sorted(left)[:5]}"
    return pages
