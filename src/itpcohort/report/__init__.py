"""Reports: tables (CSV, DOCX, HTML), figures (PNG, SVG), the results paragraph, summary.json."""

from itpcohort.report.build import Report, write_report

__all__ = ["Report", "write_report"]
