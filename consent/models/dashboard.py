"""The dashboard's figures (DESIGN §5): computed by a periodic job, read by the admin index.

A page view reads one row per figure instead of scanning a million subjects; each row says when
it was computed, so the page can state how fresh it is.
"""

from django.db import models


class DashboardFigure(models.Model):
    key = models.CharField(max_length=50, unique=True)
    rows = models.JSONField(default=list)
    computed_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return f"{self.key} ({self.computed_at:%Y-%m-%d %H:%M})"
