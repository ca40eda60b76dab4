"""Error tracking (Sentry) and tracing (OpenTelemetry), each off unless configured."""
