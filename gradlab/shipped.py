"""The configs that ship with gradlab, found by name: ``gradlab run sigmoid_deep`` in any directory.

They are the repository's top-level ``configs/*.yaml``, where the README's commands name them, and they are
installed as the package ``gradlab.configs`` (pyproject.toml maps that package to the ``configs/`` folder), so a
wheel carries them and an editable install finds them in the clone: one copy of each file either way.

A path that exists always wins. Only when there is no such file does ``sigmoid_deep`` (or ``sigmoid_deep.yaml``,
or ``configs/sigmoid_deep.yaml``, as the README writes it) name the shipped config. Nothing here imports pydantic
or the engine, so ``read_yaml`` resolves a name without them.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Optional, Union

from .names import did_you_mean

PACKAGE = "gradlab.configs"
SUFFIX = ".yaml"
FOLDER = "configs"  # what the README writes before a shipped config's file name


def folder() -> Path:
    """The folder of the shipped configs.

    The installed package ``gradlab.configs``; or, where that package is not installed (a source tree put on
    ``sys.path`` by hand, an editable install made before the configs were package data), the ``configs/``
    folder beside the ``gradlab`` package, which is the same folder in a clone.
    """
    try:
        return Path(resources.files(PACKAGE))  # pip installs a wheel as files, never as a zip
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / FOLDER


def names() -> list[str]:
    """The shipped configs' names (their file names without ``.yaml``), sorted."""
    here = folder()
    return sorted(p.stem for p in here.glob(f"*{SUFFIX}")) if here.is_dir() else []


def _typed_name(path: Path) -> Optional[str]:
    """The config name ``path`` would be if it named a shipped one: ``x``, ``x.yaml`` or ``configs/x.yaml``;
    None for anything else (a path in another folder names a file, not a shipped config)."""
    if path.parent.as_posix() not in (".", FOLDER) or path.suffix not in ("", SUFFIX) or not path.stem:
        return None
    return path.stem


def resolve(path: Union[str, Path]) -> Path:
    """``path`` itself when anything exists there; else the shipped config it names, if there is one; else
    ``path`` unchanged, for the caller to report as missing (with ``missing_hint``)."""
    path = Path(path)
    if path.exists():
        return path
    name = _typed_name(path)
    if name is not None and name in names():
        return folder() / f"{name}{SUFFIX}"
    return path


def missing_hint(path: Union[str, Path]) -> str:
    """What to add after "no such file": the shipped names, and the closest to what was typed."""
    available = names()
    if not available:
        return ""
    path = Path(path)
    typed = _typed_name(path) or path.stem
    return f"or the name of a shipped one: {', '.join(available)}{did_you_mean(typed, available)}"


def phenomenon(text: str) -> str:
    """The first sentence of a config's leading comment: the phenomenon it shows, on one line.

    Editor directives (``# yaml-language-server: ...``) are not part of it.
    """
    words: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            if words or line.strip():
                break
            continue
        body = line.lstrip("#").strip()
        if not body.startswith("yaml-language-server:"):
            words += body.split()
    return re.split(r"(?<=[.!?])\s+", " ".join(words), maxsplit=1)[0]


def describe() -> list[tuple[str, str, str]]:
    """(name, the net in brief, the phenomenon) for each shipped config, as ``registry.describe`` gives the
    rows of a registry, for ``gradlab list configs``."""
    from .config import build_config, read_yaml  # pydantic: only when the configs are listed

    rows = []
    for name in names():
        path = folder() / f"{name}{SUFFIX}"
        data, lines = read_yaml(path)
        data.pop("sweep", None)  # a config that is a sweep: its base net
        model = build_config(data, str(path), lines).model
        net = [f"depth={model.depth}", f"activation={model.activation.name}", f"init={model.init.name}"]
        net += [part for part, on in (("batchnorm", model.batchnorm.enabled), ("residual", model.residual.enabled))
                if on]
        rows.append((name, ", ".join(net), phenomenon(path.read_text(encoding="utf-8"))))
    return rows
