"""Contacts on the command line: import, contact, demo."""
import click


def register(cli: click.Group) -> None:
    pass
