"""The store: one Peewee DatabaseProxy, the models, the schema and its versions."""
from .db import database, open_database, close_database, write, backend  # noqa: F401
