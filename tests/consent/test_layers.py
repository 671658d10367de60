"""DESIGN §2: imports only go downward (preference_center → marketing_lists → consent →
subjects); consent reaches no higher app, by import or through the app registry."""

import re
from pathlib import Path

import consent

CONSENT = Path(consent.__file__).parent
# Role definitions grant Django permissions by codename ("marketing_lists.view_marketinglist"):
# data about permissions, not a use of the app's code.
PERMISSION = re.compile(r"""["']marketing_lists\.(add|change|delete|view)_\w+["']""")


def test_consent_never_refers_to_marketing_lists():
    offending = []
    for path in sorted(CONSENT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "marketing_lists" in PERMISSION.sub("", line):
                offending.append(f"{path.relative_to(CONSENT.parent)}:{number}: {line.strip()}")
    assert offending == []
