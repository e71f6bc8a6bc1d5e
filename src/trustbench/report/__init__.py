"""The HTML report: one self-contained page (tables and inline SVG figures) from the store."""

from trustbench.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
