"""Names a user types and values a message shows back: the closest name to a typo, the parameters a registry
entry takes, a value shown short.

Nothing here imports pydantic or the engine, so parsing ``--depth 2..50`` or running ``gradlab list`` stays light.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any


def did_you_mean(value: Any, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def keyword_params(fn) -> dict[str, Any]:
    """The keyword parameters (with defaults) a registry entry accepts beyond its fixed positional ones."""
    return dict(_keyword_params(fn))


@functools.lru_cache(maxsize=None)
def _keyword_params(fn) -> tuple[tuple[str, Any], ...]:
    # validating a config reads a dozen signatures, and a sweep validates every grid point's: half the time of
    # validating one is inspect.signature, whose answer for a registry entry never changes
    target = fn.__init__ if inspect.isclass(fn) else fn
    return tuple((p.name, p.default) for p in inspect.signature(target).parameters.values()
                 if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut in the middle when long: a message line names the value, it does not reprint it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-limit // 2:]} ({len(str(value))} characters)"
