"""The condition language: parse → tree → SQL, and back to text.

Five small pieces, each testable alone: grammar.lark (the shape), tree.py
(the parsed condition and its stored JSON), format.py (one canonical
spelling), parser.py (text → tree, with errors that point and suggest),
compile.py (tree → one set-based SQL expression) and explain.py (why a
contact is in or out).
"""
# The submodule segment_refs is imported first, on purpose: importing a
# submodule binds its name on the package, and the package's `segment_refs`
# must stay the function below (core.membership imports it by that name).
from . import segment_refs as _segment_refs_module  # noqa: F401
from .compile import compile_where
from .context import EvalContext
from .explain import Line, explain
from .format import format
from .parser import parse
from .tree import fields_used, from_json, segment_refs, to_json

__all__ = [
    "parse", "format", "to_json", "from_json", "compile_where", "explain", "EvalContext",
    "fields_used", "segment_refs", "Line",
]
