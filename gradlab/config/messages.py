"""pydantic's validation errors as located lines: ``file:line field.path: what is wrong (hint)``.

Each problem names the bad value and the allowed values, with a "did you mean" where one is close; a problem
caused by a ``--set`` override is blamed on that override instead of a line of the file.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from pydantic import ValidationError

from ..names import did_you_mean, short
from .models import ExperimentConfig, Problems


def _fields_at(loc: tuple) -> list[str]:
    """The field names of the model reached by following ``loc`` from ExperimentConfig (for did-you-mean)."""
    return list(getattr(_model_at(loc), "model_fields", {}))


def _model_at(loc: tuple):
    """The model (or plain annotation) reached by following ``loc`` from ExperimentConfig; None if off the map."""
    model: Any = ExperimentConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return model



_UNION_TAGS = {"int", "list[int]", "str", "float", "bool", "dict"}


def _clean_loc(loc: tuple, keep_last: bool = False) -> tuple:
    # pydantic adds union branch and validator names ('int', 'list[int]', 'function-after[...]') to locations;
    # the last part of an unknown-key error is the user's key, whatever it is called.
    body, last = (loc[:-1], loc[-1:]) if keep_last and loc else (loc, ())
    return tuple(p for p in body if not (isinstance(p, str) and (p in _UNION_TAGS
                                                                or "[" in p or p.startswith("literal")))) + last


_URL = re.compile(r"\s*(?:For further information visit\s*)?https?://errors\.pydantic\.dev\S*")


def tidy(text: str) -> str:
    """One line, without pydantic's 'Value error, ' prefix and documentation URLs."""
    text = _URL.sub("", str(text)).removeprefix("Value error, ")
    text = re.sub(r"^Input should be\b", "must be", text)
    return " ".join(text.split())


def _render(err: dict, loc: tuple) -> str:
    field = ".".join(str(p) for p in loc) or "(top level)"
    value, kind = err.get("input"), err["type"]
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", err["ctx"]["expected"])
        return f"{field}: {short(value)} is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}"
    if kind == "extra_forbidden" and loc == ("sweep",):
        return (f"{field}: a sweep section is for gradlab sweep (run the grid with `gradlab sweep FILE`); "
                f"to run one experiment, remove the section")
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        return f"{field}: unknown field{did_you_mean(loc[-1], allowed)}; allowed here: {', '.join(allowed)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = _fields_at(loc)
        what = f"a mapping of fields ({', '.join(fields)})" if fields else "a mapping"
        return f"{field}: expected {what}, got {short(value)}"
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return (f"{field}: must start with a letter or digit and contain only letters, digits, '_', '.' and '-', "
                f"at most 100 characters (it names the results directory), got {short(value)}")
    if kind == "invalid_key":
        return f"{field}: keys must be strings, got {short(value)}"
    if kind == "value_error":  # our own validators already name the value
        return f"{field}: {tidy(err['msg'])}"
    shown = "" if isinstance(value, dict) else f" (got {short(value)})"
    return f"{field}: {tidy(err['msg'])}{shown}"


def _expand(errors: list[dict]) -> list[tuple[tuple, dict]]:
    """(location, error) pairs, with each ``Problems`` item moved to its own field."""
    out = []
    for err in errors:
        loc = _clean_loc(err["loc"], keep_last=err["type"] == "extra_forbidden")
        exc = (err.get("ctx") or {}).get("error")
        if err["type"] == "value_error" and isinstance(exc, Problems):
            out += [(loc + sub, {**err, "msg": msg}) for sub, msg in exc.items]
        else:
            out.append((loc, err))
    return out


def config_errors(exc: ValidationError, source: str, lines: dict[tuple, int],
                  overrides: Optional[dict[tuple, str]] = None) -> list[str]:
    """One located line per problem: ``file:line field.path: what is wrong (hint)``, or ``--set k=v: ...``.

    File problems come first, in line order, then those caused by ``--set`` overrides.
    """
    overrides = overrides or {}
    by_loc: dict[tuple, dict] = {}
    for loc, err in _expand(exc.errors()):
        # A union reports one error per branch; keep one, preferring the one that lists allowed values.
        if loc not in by_loc or err["type"] == "literal_error":
            by_loc[loc] = err
    located = []
    for loc, err in by_loc.items():
        line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        # An override is to blame when it set this field, a field inside it, or a section containing it;
        # failing that, when it set a neighbour of a field the file does not mention at all.
        override = next((o for path, o in overrides.items()
                         if loc and (loc[:len(path)] == path or path[:len(loc)] == loc)), None)
        if override is None and line is None:
            override = next((o for path, o in overrides.items() if len(loc) > 1 and path[:len(loc) - 1] == loc[:-1]),
                            None)
        if override is not None:
            located.append(((2, 0), f"{override}: {_render(err, loc)}"))
        elif line is not None:
            located.append(((0, line), f"{source}:{line} {_render(err, loc)}"))
        else:
            located.append(((1, 0), f"{source}: {_render(err, loc)}"))
    return [text for _, text in sorted(located, key=lambda x: x[0])]
