"""The dashboard: fleet, alerts and meter pages rendered on the server with inline SVG charts."""

from sealmeter.web.dashboard._charts import (
    UsageBucket,
    alert_timeline,
    band_chart,
    bucket_usage,
    nice_step,
)
from sealmeter.web.dashboard._pages import router

__all__ = ["UsageBucket", "alert_timeline", "band_chart", "bucket_usage", "nice_step", "router"]
