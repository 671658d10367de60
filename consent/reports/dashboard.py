"""The dashboard's pictures (DESIGN §5): each a server-side SVG bar chart, the same numbers as a
table and as CSV, a link to the filtered view behind every bar and row, and how fresh it is.

The figures come from `DashboardFigure` rows (computed in the background by
`consent.services.dashboard`); the subject-request counts are live bounded counts of a small
table. Nothing here scans a large table.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from common.admin import bounded_count, dpo_views, format_count
from common.audit import Source
from consent.models import DashboardFigure, DataSubjectRequest, Purpose, Topic
from consent.services.dashboard import FIGURES, trend_weeks

CHART_WIDTH, CHART_HEIGHT, PLOT_TOP, PLOT_BOTTOM = 640, 220, 16, 40
COLORS = {
    "leads": "#79aec8",
    "contacts": "#417690",
    "consents": "#c0392b",
    "in": "#2e8540",
    "out": "#ba2121",
    "requests": "#e2a03f",
}


@dataclass
class Picture:
    key: str
    title: str
    freshness: str
    headers: list[str]
    rows: list[list]  # each cell: text, or (text, url)
    chart: dict
    csv: list[list] = field(default_factory=list)  # header first
    link: str = ""
    stale: bool = False


@lru_cache(maxsize=16)
def _changelist_url(model_name: str) -> str:
    return reverse(f"admin:{model_name}_changelist")


def _changelist(model_name: str, **params) -> str:
    url = _changelist_url(model_name)
    return f"{url}?{urlencode(params)}" if params else url


def freshness(computed_at: datetime | None, *, now: datetime) -> str:
    if computed_at is None:
        return "Not computed yet: refreshing in the background."
    at = timezone.localtime(computed_at)
    return f"Computed {at:%Y-%m-%d %H:%M} ({timesince(computed_at, now)} ago)."


def bar_chart(categories: list[str], series: list[tuple[str, str, list[int], list[str]]]) -> dict:
    """Geometry of a grouped bar chart: one group per category, one bar per series.

    `series` is (name, color, values, urls). The template draws the rects; a tooltip (<title>)
    and a link on every bar.
    """
    peak = max([max(values, default=0) for _, _, values, _ in series] + [1])
    plot_h = CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    group_w = (CHART_WIDTH - 40) / max(len(categories), 1)
    bar_w = max(group_w * 0.8 / len(series), 1)
    bars, ticks = [], []
    for i, category in enumerate(categories):
        x0 = 40 + i * group_w + group_w * 0.1
        ticks.append({"x": round(x0 + group_w * 0.4, 1), "label": category})
        for j, (name, color, values, urls) in enumerate(series):
            height = values[i] / peak * plot_h
            bars.append(
                {
                    "x": round(x0 + j * bar_w, 1),
                    "y": round(PLOT_TOP + plot_h - height, 1),
                    "w": round(bar_w - 1, 1),
                    "h": round(height, 1),
                    "color": color,
                    "title": f"{category} · {name}: {values[i]:,}",
                    "url": urls[i],
                }
            )
    step = max(len(categories) // 13, 1)  # at most ~13 labels on the axis
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline": CHART_HEIGHT - PLOT_BOTTOM,
        "peak": f"{peak:,}",
        "bars": bars,
        "ticks": ticks[::step],
        "legend": [{"name": name, "color": color} for name, color, _, _ in series],
    }


def subjects_picture(figure: DashboardFigure | None, now: datetime) -> Picture:
    rows = figure.rows if figure else []
    links = {
        kind: [
            _changelist(f"subjects_{kind}", view="active", consent_level__exact=row["level"])
            for row in rows
        ]
        for kind in ("lead", "contact")
    }
    return Picture(
        key="subjects_by_level",
        title="Active subjects by consent level",
        freshness=freshness(figure and figure.computed_at, now=now),
        headers=["Consent level", "Active leads", "Active contacts"],
        rows=[
            [
                r["label"],
                (f"{r['leads']:,}", links["lead"][i]),
                (f"{r['contacts']:,}", links["contact"][i]),
            ]
            for i, r in enumerate(rows)
        ],
        chart=bar_chart(
            [r["label"] for r in rows],
            [
                ("Leads", COLORS["leads"], [r["leads"] for r in rows], links["lead"]),
                ("Contacts", COLORS["contacts"], [r["contacts"] for r in rows], links["contact"]),
            ],
        ),
        csv=[["consent_level", "label", "active_leads", "active_contacts"]]
        + [[r["level"], r["label"], r["leads"], r["contacts"]] for r in rows],
        link=_changelist("subjects_contact", view="active"),
        stale=figure is None,
    )


def expiring_picture(figure: DashboardFigure | None, now: datetime) -> Picture:
    rows = figure.rows if figure else []
    links = [
        _changelist(
            "consent_dataconsent",
            view="active",
            valid_until__gte=r["first_day"],
            valid_until__lte=r["last_day"],
        )
        for r in rows
    ]
    return Picture(
        key="expiring_by_month",
        title="Data consents expiring per month (next 12 months)",
        freshness=freshness(figure and figure.computed_at, now=now),
        headers=["Month", "Expiring data consents"],
        rows=[[r["month"], (f"{r['data_consents']:,}", links[i])] for i, r in enumerate(rows)],
        chart=bar_chart(
            [r["month"] for r in rows],
            [("Expiring", COLORS["consents"], [r["data_consents"] for r in rows], links)],
        ),
        csv=[["month", "first_day", "last_day", "expiring_data_consents"]]
        + [[r["month"], r["first_day"], r["last_day"], r["data_consents"]] for r in rows],
        link=_changelist("consent_dataconsent", view="expiring_this_year"),
        stale=figure is None,
    )


def source_label(code: str) -> str:
    return Source(code).label if code in Source else code.replace("_", " ").capitalize()


def trend_choices(rows: list[dict], purposes: dict, topic_rows: list) -> list[tuple[str, str]]:
    """The selections of the trend chart: everything, one purpose, one topic, one source."""
    topics = {pk: f"{purposes.get(p, '?')} / {name}" for pk, p, name in topic_rows}
    choices = [("", "All purposes, topics and sources")]
    choices += [
        (f"purpose:{pk}", f"Purpose: {purposes[pk]}")
        for pk in sorted({r["purpose"] for r in rows if r["purpose"] in purposes})
    ]
    choices += [
        (f"topic:{pk}", f"Topic: {topics[pk]}")
        for pk in sorted({r["topic"] for r in rows if r["topic"] in topics})
    ]
    choices += [
        (f"source:{code}", f"Source: {source_label(code)}")
        for code in sorted({r["source"] for r in rows})
    ]
    return choices


def _selected(row: dict, selection: str) -> bool:
    if not selection:
        return True
    kind, _, value = selection.partition(":")
    if kind == "source":
        return row["source"] == value
    return str(row.get(kind)) == value


def _trend_link(selection: str, week: str, status: str) -> str:
    following = date.fromisoformat(week) + timedelta(days=7)
    params = {
        "status__exact": status,
        "captured_at__gte": f"{week}T00:00:00+00:00",
        "captured_at__lt": f"{following.isoformat()}T00:00:00+00:00",
    }
    kind, _, value = selection.partition(":")
    if kind:
        params[f"{kind}__exact"] = value
    return _changelist("consent_contactpointconsent", **params)


def trend_picture(figure: DashboardFigure | None, now: datetime, selection: str = "") -> Picture:
    rows = figure.rows if figure else []
    purposes = dict(Purpose.objects.values_list("pk", "name"))
    topic_rows = list(Topic.objects.values_list("pk", "purpose_id", "name"))
    topics = {pk: name for pk, _, name in topic_rows}
    choices = dict(trend_choices(rows, purposes, topic_rows))
    selection = selection if selection in choices else ""
    weeks = [w.isoformat() for w in trend_weeks(timezone.localdate(now))]
    ins, outs = dict.fromkeys(weeks, 0), dict.fromkeys(weeks, 0)
    for row in rows:
        if row["week"] in ins and _selected(row, selection):
            ins[row["week"]] += row["opt_ins"]
            outs[row["week"]] += row["opt_outs"]
    in_links = [_trend_link(selection, w, "opted_in") for w in weeks]
    out_links = [_trend_link(selection, w, "opted_out") for w in weeks]
    picture = Picture(
        key="opt_trend",
        title=f"Opt-ins and opt-outs per week, last 26 weeks — {choices[selection]}",
        freshness=freshness(figure and figure.computed_at, now=now),
        headers=["Week of", "Opt-ins", "Opt-outs"],
        rows=[
            [w, (f"{ins[w]:,}", in_links[i]), (f"{outs[w]:,}", out_links[i])]
            for i, w in enumerate(weeks)
        ],
        chart=bar_chart(
            [w[5:] for w in weeks],
            [
                ("Opt-ins", COLORS["in"], list(ins.values()), in_links),
                ("Opt-outs", COLORS["out"], list(outs.values()), out_links),
            ],
        ),
        csv=[["week", "purpose", "topic", "source", "opt_ins", "opt_outs"]]
        + [
            [
                r["week"],
                purposes.get(r["purpose"], ""),
                topics.get(r["topic"], ""),
                source_label(r["source"]),
                r["opt_ins"],
                r["opt_outs"],
            ]
            for r in rows
        ],
        link=_changelist("consent_contactpointconsent"),
        stale=figure is None,
    )
    picture.choices = list(choices.items())
    picture.selection = selection
    picture.breakdown = trend_breakdown(rows, weeks, purposes, topics)
    return picture


def trend_breakdown(rows, weeks, purposes, topics) -> list[list]:
    """26-week totals per purpose/topic and per source, each a link to its chart."""
    totals: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        if row["week"] not in weeks:
            continue
        keys = [(f"source:{row['source']}", f"Source: {source_label(row['source'])}")]
        if row["purpose"] in purposes:
            keys.append((f"purpose:{row['purpose']}", f"Purpose: {purposes[row['purpose']]}"))
        if row["topic"] in topics:
            keys.append((f"topic:{row['topic']}", f"Topic: {topics[row['topic']]}"))
        for key in keys:
            total = totals.setdefault(key, [0, 0])
            total[0] += row["opt_ins"]
            total[1] += row["opt_outs"]
    return [
        [label, f"?{urlencode({'trend': code})}#opt_trend", f"{i:,}", f"{o:,}"]
        for (code, label), (i, o) in sorted(totals.items(), key=lambda t: t[0][1])
    ]


def requests_picture(now: datetime) -> Picture:
    views = dpo_views(DataSubjectRequest)
    counts = {code: bounded_count(DataSubjectRequest.objects.for_view(code)) for code in views}
    links = [_changelist("consent_datasubjectrequest", view=code) for code in views]
    labels = [label for label, _ in views.values()]
    return Picture(
        key="requests",
        title="Data subject requests",
        freshness="Live.",
        headers=["View", "Requests"],
        rows=[[labels[i], (format_count(counts[code]), links[i])] for i, code in enumerate(views)],
        chart=bar_chart(labels, [("Requests", COLORS["requests"], list(counts.values()), links)]),
        csv=[["view", "label", "requests"]]
        + [[code, labels[i], counts[code]] for i, code in enumerate(views)],
        link=links[0],
    )


# Which pictures a user sees: the permission of the view behind it.
PERMISSIONS = {
    "subjects_by_level": ("subjects.view_contact", "subjects.view_lead"),
    "expiring_by_month": ("consent.view_dataconsent",),
    "opt_trend": ("consent.view_contactpointconsent",),
    "requests": ("consent.view_datasubjectrequest",),
}


def dashboard_pictures(*, user, trend: str = "") -> list[Picture]:
    now = timezone.now()
    allowed = [key for key, perms in PERMISSIONS.items() if any(map(user.has_perm, perms))]
    figures = {f.key: f for f in DashboardFigure.objects.filter(key__in=allowed)}
    builders = {
        "subjects_by_level": lambda: subjects_picture(figures.get("subjects_by_level"), now),
        "expiring_by_month": lambda: expiring_picture(figures.get("expiring_by_month"), now),
        "opt_trend": lambda: trend_picture(figures.get("opt_trend"), now, trend),
        "requests": lambda: requests_picture(now),
    }
    return [builders[key]() for key in allowed]


def missing_figures() -> bool:
    stored = set(DashboardFigure.objects.values_list("key", flat=True))
    return not stored >= set(FIGURES)
