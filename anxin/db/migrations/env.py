"""Alembic environment: runs migrations on the URL the caller configured."""

from alembic import context

from anxin.db.engine import make_engine
from anxin.db.models import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
