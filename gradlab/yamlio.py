"""Reading YAML: a config file (with the line of every key) and a command-line value.

Aliases are expanded under a budget (``MAX_NODES``) before any Python object is built, and every problem is a
located ``ConfigError``. Nothing here imports pydantic, so ``--grid``/``--depth`` values are read as ``--set``
values are without loading the config models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from . import shipped
from .errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (as YAML 1.2 does; YAML 1.1 needs ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of YAML; a megabyte is a mistake (or an attack)
MAX_NODES = 100_000  # after expanding aliases: `&a [*b, *b, ...]` nests to billions in a few hundred bytes


class _TooLarge(Exception):
    pass


def _parse(text: str) -> tuple[Any, dict[tuple, int], list[tuple[int, str]]]:
    """The YAML document's data, the 1-based line of each key path, and its duplicate keys.

    The node graph is walked once, with aliases expanded as anything that reads the data would expand them,
    and refused past ``MAX_NODES`` before a single Python object is built; raises _TooLarge.
    """
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[int, str]] = []
    open_nodes: set[int] = set()  # an alias may refer back to an enclosing node: `a: &x {b: *x}`
    budget = [MAX_NODES]

    def walk(node, path):
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooLarge
        if id(node) in open_nodes:
            return
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                line = k.start_mark.line + 1
                name = k.value if isinstance(k, yaml.ScalarNode) else None
                if name is not None and name in seen and k.tag != "tag:yaml.org,2002:merge":
                    duplicates.append((line, f"{'.'.join(str(p) for p in path + (name,))}: duplicate key "
                                              f"(first at line {seen[name]}); give each key once"))
                if name is not None:
                    seen.setdefault(name, line)
                key = path + (name,)
                lines.setdefault(key, line)
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines.setdefault(path + (i,), v.start_mark.line + 1)
                walk(v, path + (i,))
        open_nodes.discard(id(node))

    root = yaml.compose(text, Loader=_Loader)
    if root is None:
        return None, lines, duplicates
    walk(root, ())
    return _Loader("").construct_document(root), lines, duplicates


def _one_line(text) -> str:
    """PyYAML's text on one line: each problem is one line of the message."""
    return " ".join(str(text).split())


def _yaml_error(src: str, text: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{src}:{mark.line + 1}:{mark.column + 1}" if mark else f"{src}:"
        msg = _one_line(exc.problem or exc)
        cm = exc.context_mark
        if exc.context and cm and mark and (cm.line, cm.column) != (mark.line, mark.column):
            msg += f" ({_one_line(exc.context)} that starts at line {cm.line + 1}, column {cm.column + 1})"
        if "python" in str(exc):
            msg += " (only plain YAML is accepted, no !!python tags; nothing was run)"
        return f"{where} YAML error: {msg}"
    if isinstance(exc, yaml.reader.ReaderError):
        pos = exc.position
        line, column = text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return f"{src}:{line}:{column} YAML error: unacceptable character {char} ({exc.reason})"
    return f"{src}: YAML error: {_one_line(exc)}"


def read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    """Safely parse a YAML mapping; return it with the line of each key. Raises ConfigError.

    A ``path`` where no file exists may name a shipped config instead (``sigmoid_deep``): see ``gradlab.shipped``.
    """
    path = shipped.resolve(path)
    src = str(path)
    if path.is_dir():
        raise ConfigError([f"{src}: is a directory; pass the path of a YAML config file"], src)
    if not path.exists():
        hint = shipped.missing_hint(path)
        raise ConfigError([f"{src}: no such file; pass the path of a YAML config{' ' + hint if hint else ''}"], src)
    if not path.is_file():  # a device or a pipe may never end
        raise ConfigError([f"{src}: not a regular file; pass the path of a YAML config (see configs/)"], src)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{src}: {path.stat().st_size:,} bytes is more than a config can be "
                               f"({MAX_CONFIG_BYTES:,}); pass a YAML config file"], src)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{src}: not a UTF-8 text file (byte {exc.start}); a config is YAML text"], src) from None
    except OSError as exc:
        raise ConfigError([f"{src}: cannot be read ({exc.strerror or exc})"], src) from None
    try:
        data, lines, duplicates = _parse(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(src, text, exc)], src) from None
    except RecursionError:
        raise ConfigError([f"{src}: YAML error: the document nests too deeply"], src) from None
    except _TooLarge:
        raise ConfigError([f"{src}: YAML error: the document expands to more than {MAX_NODES:,} values "
                           f"(aliases referring to aliases?); a config is a page of plain YAML"], src) from None
    if duplicates:
        raise ConfigError([f"{src}:{line} {msg}" for line, msg in duplicates], src)
    if data is None:
        raise ConfigError([f"{src}: the file is empty; a config needs at least e.g. 'model: {{depth: 30}}'"], src)
    if not isinstance(data, dict):
        raise ConfigError([f"{src}:1 the top level must be a mapping of fields (name, model, data, train, ...), "
                           f"got a {type(data).__name__}"], src)
    return data, lines


def yaml_value(raw: str) -> Any:
    """A command-line value read as YAML (10, 1e-3, true, [1, 2]); text that is not YAML stays a plain string."""
    try:
        return _parse(raw)[0] if raw.strip() else ""
    except (_TooLarge, RecursionError):
        raise yaml.YAMLError(f"it expands to more than {MAX_NODES:,} values or nests too deeply") from None
    except yaml.YAMLError:
        if raw.lstrip()[:1] in ("[", "{", '"', "'"):
            raise  # meant as YAML but broken: say so rather than pass it on as text
        return raw
