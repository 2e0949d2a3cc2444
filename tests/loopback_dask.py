"""Keyword arguments for a dask cluster a test starts in its own process (`LocalCluster(...,
**LOOPBACK)`, `Client(processes=False, ..., **LOOPBACK)`): no dashboard, and the scheduler's
HTTP server -- started even without a dashboard, on port 8787 unless told otherwise -- on
127.0.0.1, port 0. On 8787 two clusters at once (two xdist workers, or another run on the
machine) collide, and tornado leaves the socket whose bind failed open: a ResourceWarning."""

LOOPBACK = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
