"""LLM providers behind one small chat interface (``chat``), made dependable by
``resilience`` (retries, circuit breaker, concurrency cap, token accounting)."""
