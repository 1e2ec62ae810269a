"""The operator's cockpit: dashboard, REST API, /healthz and /metrics (issue 12)."""
