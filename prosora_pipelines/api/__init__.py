"""The HTTP API: FastAPI over the materialized assets, the query engine and the app database.

``app.create_app`` builds it; ``prosora serve`` runs it with uvicorn. It reads what the
pipelines materialized (LanceDB read-only, the Parquet tables) and the app database; it
never materializes anything itself.
"""
