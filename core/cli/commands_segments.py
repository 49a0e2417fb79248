"""Segments on the command line: create, preview, refresh, members, why, and the operations."""
import click


def register(cli: click.Group) -> None:
    pass
