"""The writers' web app (Streamlit): a client of the HTTP API and nothing else.

It never imports the library's batch code or opens a store, so authentication, isolation,
limits and every rule stay in the API. The modules here that do not import Streamlit
(``client``, ``problems``, ``views``) hold the logic the pages show and are tested on their own;
``main`` and ``pages/`` only lay it out.
"""
