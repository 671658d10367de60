"""The access report as a PDF (WeasyPrint; it needs Pango, see README "Set-up")."""

from django.template.loader import render_to_string
from django.utils.text import slugify


def access_report_pdf(report: dict) -> bytes:
    """The same report dict the printable page shows, laid out for A4."""
    from weasyprint import HTML  # imported on use: the rest of the app runs without Pango

    html = render_to_string("consent/access_report_pdf.html", {"report": report})
    return HTML(string=html).write_pdf()


def access_report_filename(report: dict) -> str:
    return f"access-report-{report['subject_type']}-{report['subject']['id']}-" + (
        f"{slugify(report['generated_at'][:10])}.pdf"
    )
