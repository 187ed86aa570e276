"""The dashboard: fleet, alerts and meter pages rendered on the server with inline SVG charts."""

from sealmeter.web.dashboard.charts import UsageBucket, alert_timeline, band_chart, bucket_usage
from sealmeter.web.dashboard.pages import router

__all__ = ["UsageBucket", "alert_timeline", "band_chart", "bucket_usage", "router"]
