"""The SQL store shared by alerts, console and ingest: models, engine and migrations."""
