"""The lake report: one self-contained HTML page (``oilake report``) drawn from the marts, the manifest,
the hierarchy and the registered evaluation runs."""

from pipeline.report.run import ReportResult, gather, write_report

__all__ = ["ReportResult", "gather", "write_report"]
