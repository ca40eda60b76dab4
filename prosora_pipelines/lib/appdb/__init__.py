"""The app database: users, voice profiles, queries, variants, feedback and learning patterns.

SQLite (WAL) under ``PROSORA_HOME`` on one machine, PostgreSQL when ``DATABASE_URL`` names
one; the same models, migrations and repository code serve both. The modules:

- ``models``: the SQLAlchemy tables and the one engagement-rate formula.
- ``engine``: engines with the right connection settings, and session factories.
- ``migrations``: the Alembic environment and ``migrate(url)``, which brings a database to
  the newest schema.
- ``repository``: the small functions the engine, the API and the command line call.

A new migration is generated from the models against an up-to-date database::

    from alembic import command
    from prosora_pipelines.lib.appdb.engine import make_engine
    from prosora_pipelines.lib.appdb.migrations import alembic_config

    with make_engine(url).connect() as connection:
        command.revision(alembic_config(connection), message="...", autogenerate=True)

and then read and edited by hand before it is committed.
"""
