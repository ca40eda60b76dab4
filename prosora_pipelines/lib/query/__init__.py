"""The query engine: a question in, grounded drafts with engagement predictions out.

The five phases, each its own module, none importing Dagster or FastAPI:

1. ``analysis``: intent, domains, complexity, evidence level and keywords, offline.
2. ``evidence``: hybrid search over the materialized article index, steered by the analysis.
3. ``voice``: the user's profile, applied while drafting.
4. ``drafts`` and ``extractive`` (or an LLM through ``llm_drafting``) write the variants,
   ``grounding`` checks them, ``prediction`` predicts their engagement.
5. ``learned_preferences`` reads the active learning patterns; ``engine`` records everything
   so later feedback joins to what produced it; ``responses`` holds the answer as the API
   returns it and the CLI prints it.
"""
