"""Sweep axes: the range syntax, paired axes and the cartesian grid.

An axis sweeps one config field (``model.depth``) or several in lock-step (``model.activation+model.init``,
values ``sigmoid+xavier_normal``). Values are written as

- ``2..50`` (inclusive), ``2..50:4`` (a step), ``0.1..0.5:0.1`` (a float step),
- ``1e-3..1:x10`` (geometric, each value ×10),
- ``2,4,8,16`` (a list; each item is YAML, so ``off``/``on`` are booleans and ``1e-3`` is a number),
- or, in a config's ``sweep:`` section, a YAML list.

The grid is the cartesian product of the axes, first axis slowest, so its order never depends on how the
runs are executed.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import yaml

from .errors import UsageError
from .yamlio import yaml_value

RANGE_EXAMPLES = "e.g. 2..50, 2..50:4, 1e-3..1:x10 or 2,4,8,16"
MAX_VALUES = 100_000  # a typo like 1..1e9 should be an error, not an hour of expanding
MAX_POINTS = 100_000  # the same for the product of the axes: 1..1000 × 1..1000 is a typo, not a sweep


def _scalar(text: str, label: str = "--grid") -> Any:
    """One value, read as YAML (as --set reads one): 20 -> int, 1e-3 -> float, off -> False, he_normal -> str."""
    try:
        return yaml_value(text)
    except yaml.YAMLError:
        raise UsageError(f"{label}: {text.strip()!r} is not valid YAML; list values cannot go in a command-line list "
                         f"(sweep them in a config's sweep: section, e.g. model.width: [[64, 32], [32, 16]])") from None


def _number(text: str, what: str, spec: str, label: str) -> float:
    value = _scalar(text, label)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{label} {spec!r}: the {what} {text.strip()!r} is not a number; "
                         f"write a range as {RANGE_EXAMPLES}")
    return value


def parse_values(spec: str, label: str = "--grid") -> list:
    """The values a range or list spec stands for, in order; a bad spec raises UsageError with an example."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"{label}: no values given; write them as {RANGE_EXAMPLES}")
    if ".." not in spec:
        items = [s.strip() for s in spec.split(",")]
        if not all(items):
            raise UsageError(f"{label} {spec!r}: an empty item in the list; write it as {RANGE_EXAMPLES}")
        return [_scalar(s, label) for s in items]
    start, _, rest = spec.partition("..")
    stop, colon, step = rest.partition(":")
    if "," in spec or not start.strip() or not stop.strip() or (colon and not step.strip()):
        raise UsageError(f"{label} {spec!r}: not a range I can read; write it as {RANGE_EXAMPLES}")
    start_v = _number(start, "start", spec, label)
    stop_v = _number(stop, "end", spec, label)
    geometric = step.strip().startswith("x")
    by = _number(step.strip().removeprefix("x"), "step", spec, label) if colon else 1
    values = (_geometric if geometric else _arithmetic)(start_v, stop_v, by, spec, label)
    if not values:
        raise UsageError(f"{label} {spec!r}: the range is empty (the end comes before the start); "
                         f"write it as {RANGE_EXAMPLES}")
    return values


def _arithmetic(start, stop, by, spec, label) -> list:
    if by <= 0:
        raise UsageError(f"{label} {spec!r}: the step must be positive, e.g. 2..50:4")
    count = math.floor((stop - start) / by + 1e-9) + 1
    if count > MAX_VALUES:
        raise UsageError(f"{label} {spec!r}: {count} values is more than {MAX_VALUES}; use a larger step, e.g. 2..50:4")
    if all(isinstance(v, int) for v in (start, stop, by)):
        return list(range(start, stop + 1, by))
    # multiply rather than accumulate, and round away the binary noise (0.1*3 -> 0.3, not 0.30000000000000004)
    return [float(f"{start + i * by:.12g}") for i in range(max(count, 0))]


def _geometric(start, stop, by, spec, label) -> list:
    if start <= 0 or stop <= 0 or by <= 1:
        raise UsageError(f"{label} {spec!r}: a geometric range needs positive ends and a factor above 1, "
                         f"e.g. 1e-3..1:x10")
    count = math.floor((math.log(stop) - math.log(start)) / math.log(by) + 1e-9) + 1  # stop/start may overflow
    if count > MAX_VALUES:
        raise UsageError(f"{label} {spec!r}: {count} values is more than {MAX_VALUES}; use a larger factor, "
                         f"e.g. 1e-3..1:x10")
    if isinstance(start, int) and isinstance(by, int):  # 2..64:x2 is depths: integers stay integers
        return [start * by**i for i in range(max(count, 0))]
    # in logarithms: start * by**i may overflow on the way to a representable end (1e-300..1e300:x1e100)
    return [float(f"{10 ** (math.log10(start) + i * math.log10(by)):.12g}") for i in range(max(count, 0))]


def label_of(value: Any) -> str:
    """A value as one would type it: 20, 0.001, true, sigmoid, [64, 32]."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (str, int)):  # a sweep labels its few values thousands of times: dump each once
        return _scalar_label(value)
    return _flow_yaml(value)


@functools.lru_cache(maxsize=4096, typed=True)  # typed: True and 1 are equal keys otherwise
def _scalar_label(value: str | int) -> str:
    return _flow_yaml(value)


def _flow_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...").strip()


@dataclass(frozen=True)
class Axis:
    """One swept dimension: ``keys`` (dotted config paths) set together to each of ``values`` (tuples)."""

    keys: tuple[str, ...]
    values: tuple[tuple, ...]

    @property
    def name(self) -> str:
        return "+".join(self.keys)

    def labels(self) -> list[str]:
        return ["+".join(label_of(v) for v in combo) for combo in self.values]

    def to_spec(self) -> dict:
        return {"key": self.name, "values": [list(v) if len(self.keys) > 1 else v[0] for v in self.values]}


def make_axis(key: str, values: Any, label: str | None = None) -> Axis:
    """An axis from a key (``a.b`` or ``a.b+c.d``) and a range spec string or a list of values.

    ``label`` names where the axis came from in error messages (``--depth``, ``x.yaml:12 sweep.model.depth``).
    """
    label = label or f"--grid {key}"
    keys = tuple(k.strip() for k in str(key).split("+"))
    if not all(re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", k) for k in keys):
        raise UsageError(f"{label}: {key!r} is not a config path like model.depth "
                         f"(or model.activation+model.init for a paired axis)")
    if isinstance(values, str):
        if len(keys) > 1:
            values = [[_scalar(part, label) for part in item.split("+")] for item in values.split(",")]
        else:
            values = parse_values(values, label)
    elif isinstance(values, (int, float, bool)):
        values = [values]
    elif not isinstance(values, list) or not values:
        raise UsageError(f"{label}: give the values as a range ({RANGE_EXAMPLES}) or a non-empty list")
    combos, seen = [], set()
    for v in values:
        if len(keys) > 1 and (not isinstance(v, (list, tuple)) or len(v) != len(keys)):
            raise UsageError(f"{label}: each value must set all {len(keys)} fields of {key}, "
                             f"e.g. sigmoid+xavier_normal; got {label_of(v)}")
        combo = tuple(v) if len(keys) > 1 else (v,)
        key = tuple((type(x), x) for x in combo)  # typed, so that true and 1 stay apart
        try:
            hash(key)
        except TypeError:  # a list of widths: its label stands in
            key = "+".join(map(label_of, combo))
        if key in seen:
            raise UsageError(f"{label}: the value {'+'.join(map(label_of, combo))} is listed twice")
        seen.add(key)
        combos.append(combo)
    return Axis(keys, tuple(combos))


def parse_grid_option(option: str) -> Axis:
    """``key.path=values`` from ``--grid``."""
    key, sep, spec = option.partition("=")
    if not sep:
        raise UsageError(f"--grid {option!r}: expected key.path=values, e.g. --grid model.width=16,64,256")
    return make_axis(key.strip(), spec)


def merge_axes(axes: Iterable[Axis]) -> list[Axis]:
    """Later axes replace earlier ones on the same keys, in their place (a command-line axis overrides the
    config's without reordering the grid)."""
    merged: list[Axis] = []
    for axis in axes:
        clash = [i for i, old in enumerate(merged) if set(old.keys) & set(axis.keys)]
        if clash:
            merged[clash[0]] = axis
            merged = [a for i, a in enumerate(merged) if i not in clash[1:]]
        else:
            merged.append(axis)
    return merged


def check_size(axes: list[Axis]) -> int:
    """The number of grid points, checked against MAX_POINTS before anything is expanded."""
    size = math.prod(len(a.values) for a in axes)
    if size > MAX_POINTS:
        shape = " × ".join(f"{a.name} ({len(a.values)})" for a in axes)
        raise UsageError(f"the grid has {size:,} points = {shape}, more than {MAX_POINTS:,}; "
                         f"sweep fewer values, e.g. with a larger step (2..50:4)")
    return size


def point_key(point: dict[str, Any], axis_names: list[str]) -> str:
    """A grid point (``{axis name: value}``) as the key that sweeps are matched on, e.g. ``depth=12
    activation+init=relu+he_normal``: each axis's last path segments and its value as typed.

    Built here and not from a reporter's column titles, so that a cosmetic change to a table cannot break
    the match against a committed baseline.
    """
    return " ".join(f"{'+'.join(k.rsplit('.', 1)[-1] for k in name.split('+'))}={label_of(point[name])}"
                    for name in axis_names)


def expand(axes: list[Axis]) -> list[dict[str, Any]]:
    """The cartesian product as a list of ``{key.path: value}``, first axis slowest."""
    check_size(axes)
    points = []
    for combo in itertools.product(*(axis.values for axis in axes)):
        point = {}
        for axis, values in zip(axes, combo):
            point.update(zip(axis.keys, values))
        points.append(point)
    return points
