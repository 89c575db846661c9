"""Self-contained HTML reports: a run, a sweep or a baseline check as one file that a browser opens offline.

Everything is inside the file: the figures are PNG data URIs, the tables are rich's own HTML export of the
terminal tables (the same figures in the same colours, so the page and the terminal cannot disagree), the CSS
is in the page and there is no script. Nothing is fetched, so the page opens from ``file://``, from a CI
artifact or offline, and it prints.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from rich.console import Console
from rich.table import Table
from rich.terminal_theme import TerminalTheme
from rich.text import Text

from .. import __version__

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from ..compare import Comparison, Pair
    from ..experiment import RunResult
    from ..sweep import SweepSummary

# The terminal's named colours, as the figures draw the verdicts (cyan: vanishing, red: exploding, green:
# healthy), dark enough to read on white paper.
THEME = TerminalTheme(
    (255, 255, 255), (32, 33, 36),
    [(32, 33, 36), (198, 40, 40), (46, 125, 50), (166, 117, 0), (21, 101, 192), (142, 36, 170), (0, 120, 160),
     (110, 110, 110)],
    [(90, 90, 90), (229, 57, 53), (67, 160, 71), (200, 140, 0), (30, 136, 229), (171, 71, 188), (0, 151, 190),
     (60, 60, 60)])
VERDICT_COLOR = {"vanishing": "#0078a0", "exploding": "#c62828", "healthy": "#2e7d32", "undetermined": "#a67500",
                 "diverged": "#8e24aa", "failed": "#6e6e6e", "pending": "#9e9e9e"}
TABLE_WIDTH = 118  # columns of the exported terminal tables: wide enough that no table wraps a cell

CSS = """
:root { color-scheme: light; --ink: #202124; --muted: #5f6368; --rule: #dadce0; --bad: #c62828; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       max-width: 1400px; margin: 0 auto; padding: 1.2rem 1.6rem 3rem; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.sub { color: var(--muted); margin: 0 0 1rem; overflow-wrap: anywhere; }
.banner { border-left: 6px solid var(--tone, #888); background: #f8f9fa; padding: .2rem .8rem; margin: 1rem 0; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 1rem; color: #fff; font-weight: 600;
         background: var(--tone, #888); margin-right: .3rem; font-size: .9rem; }
pre { font: 13px/1.35 "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace; margin: 0;
      white-space: pre; overflow-x: auto; }
pre.term { padding: .4rem 0; }
pre.code { background: #f8f9fa; border: 1px solid var(--rule); padding: .6rem .8rem; }
.scroll { max-height: 30rem; overflow: auto; border: 1px solid var(--rule); padding: 0 .6rem; }
figure { margin: 0 0 1.2rem; break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: .88rem; margin-top: .25rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
table.facts { border-collapse: collapse; font-size: .92rem; }
table.facts th { text-align: left; font-weight: 600; padding: .15rem 1rem .15rem 0; vertical-align: top; }
table.facts td { padding: .15rem 0; overflow-wrap: anywhere; }
.summary { display: flex; flex-wrap: wrap; gap: .6rem 1.6rem; margin: .6rem 0; font-size: 1.05rem; }
.summary b { font-size: 1.35rem; }
.bad { color: var(--bad); }
ul.contents { list-style: none; padding: 0; columns: 2 22rem; margin: .4rem 0; }
ul.contents li { margin: .15rem 0; break-inside: avoid; }
footer { color: var(--muted); font-size: .8rem; margin-top: 3rem; border-top: 1px solid var(--rule);
         padding-top: .5rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .scroll { max-height: none; overflow: visible; border: 0; }
  pre { white-space: pre-wrap; font-size: 8.5pt; }
  section, .pair { break-inside: avoid-page; }
  h2 { break-after: avoid; }
}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def terminal(renderable, width: int = TABLE_WIDTH) -> str:
    """A rich renderable (a table, a verdict text) as the terminal shows it, in HTML with inline styles."""
    # not force_jupyter: in a notebook, rich would display what it prints as well as record it
    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor", force_terminal=True,
                      force_jupyter=False, legacy_windows=False)
    console.print(renderable)
    return console.export_html(theme=THEME, inline_styles=True, code_format='<pre class="term">{code}</pre>')


def image(png: bytes, caption: str) -> str:
    """A PNG inline as a data URI, so the page needs no file beside it."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def figure(fig: "Figure", caption: str) -> str:
    from .figure import png_bytes

    return image(png_bytes(fig), caption)


# How to read each figure, under it (the figure's own title says what it shows).
CAPTIONS = {
    "grad_profile.png": "Read along the layers: a straight slope is a constant factor per layer; lines that fan out "
                        "over training mean the net is repairing or worsening the flow. Dashes: the mean-field "
                        "prediction.",
    "grad_heatmap.png": "Each row a layer, each column a recorded step: a vertical gradient of colour is vanishing "
                        "or exploding, a change along a row is training changing it.",
    "training.png": "Loss, accuracy and the global gradient norm per step; a red line marks divergence.",
    "activations.png": "Where activations saturate (sigmoid, tanh) or die (ReLU), gradients stop: the cause "
                       "behind the profile above.",
    "spectrum.png": "At init, how the whole stack stretches a small change of its input: all λ near 1 "
                    "(dynamical isometry) passes every direction of the gradient on undistorted; a wide spread "
                    "trains a few directions and starves the rest, even where the mean looks healthy. Red: the "
                    "free-probability prediction.",
    "spectrum_training.png": "The same spectrum at recorded steps: a density that stays put and a flat condition "
                             "number are training that keeps the net near isometry; densities moving apart are the "
                             "spectrum spreading as the weights learn.",
    "activation_bands.png": "Glorot & Bengio's Fig. 2: a band that slides to an end of the activation's range "
                            "and narrows is a layer saturating (a sigmoid's top hidden layer pushed toward 0); a "
                            "band that stays put is a layer training or, in a vanishing net, a layer not moving.",
    "signal_ridges.png": "Each ridge the spread of one layer's back-propagated signal: ridges sliding left down the "
                         "layers is vanishing, right exploding, stacked in place healthy; compare step 0 with the "
                         "last step for what training did to it.",
    "sharpness.png": "λ_max, the loss's curvature along its sharpest direction, against the dashed line 2/lr: "
                     "below it a gradient step shrinks every direction, above it the sharpest one overshoots. "
                     "Gradient descent typically climbs to the line and hovers there (the edge of stability); "
                     "far above it, training blows up.",
    "activation_gallery.png": "Each activation φ (black) beside φ′ (orange), the slope back-propagation multiplies "
                              "by at every layer: a peak below 1 (sigmoid's 1/4) shrinks the gradient layer after "
                              "layer, and in the grey regions a unit passes back almost nothing.",
    "ratio_vs_x.png": "Below the band: vanishing; above: exploding. Each line is one group of the sweep.",
    "heatmaps.png": "Per-layer gradient norm at step 0 for every point of the sweep, a panel per group.",
    "verdicts.png": "The verdict of every run at a glance; a cross marks a run that diverged.",
    "final_loss.png": "Did it train? The loss at the last step of every run.",
    "signal_spread.png": "The size of the first hidden layer's gradient entries: a band that falls with x as a "
                         "whole is vanishing in every entry; a median far below the band's top is a few large "
                         "entries carrying the norm.",
}


def figures(makers: dict[str, Callable], data) -> str:
    """Every ``name -> make(data)`` figure of a registry, inline, with its reading hint."""
    return "".join(figure(make(data), CAPTIONS.get(name, name)) for name, make in makers.items())


def facts(rows: Iterable[tuple[str, object]]) -> str:
    """Label/value pairs as a small table; empty values are left out."""
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    return f'<table class="facts">{cells}</table>'


def code(text: str) -> str:
    return f'<pre class="code">{esc(text)}</pre>'


def badge(word: str, tone: str | None = None) -> str:
    return f'<span class="badge" style="--tone:{VERDICT_COLOR.get(tone or word, "#888")}">{esc(word)}</span> '


def banner(tone: str, body: str) -> str:
    return f'<div class="banner" style="--tone:{VERDICT_COLOR.get(tone, "#888")}">{body}</div>'


def page(title: str, subtitle: str, body: str) -> str:
    """The document: title, body and a footer, with the stylesheet inline and nothing to fetch."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="gradlab {esc(__version__)}">\n<title>{esc(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<header><h1>{esc(title)}</h1>"
            f'<p class="sub">{esc(subtitle)}</p></header>\n{body}\n'
            f"<footer>Written by gradlab {esc(__version__)}. A self-contained page: the figures and styles are "
            f"inside this file, and it loads nothing from the network.</footer>\n</body>\n</html>\n")


# ---------------------------------------------------------------- a run


def _versions(summary: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in (summary.get("versions") or {}).items())


def _provenance(p: dict) -> list[tuple[str, object]]:
    """Where and how the run was made, from summary.json's ``provenance`` (absent in older runs)."""
    blas = ", ".join(f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture')}, "
                     f"{lib.get('num_threads')} threads)" for lib in (p.get("blas") or {}).get("libraries", []))
    git = p.get("git") or {}
    machine = p.get("platform") or {}
    return [("command", " ".join(p.get("argv") or [])), ("started", p.get("started")), ("ended", p.get("ended")),
            ("git", f"{git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}" if git.get("commit") else None),
            ("BLAS", blas), ("platform", " ".join(str(machine.get(k, "")) for k in ("system", "release", "machine"))
                             if machine else None),
            ("CPU", (p.get("cpu") or {}).get("model"))]


def _run_banner(result: "RunResult") -> str:
    """The verdict at the top: its badge (and a diverged one), and the closing lines the terminal prints."""
    from .table import verdict_text

    s = result.summary
    verdict = "diverged" if s.get("status") == "diverged" else s.get("verdict", "")
    return banner(verdict, badge(s.get("verdict", "?")) + (badge("diverged") if verdict == "diverged" else "")
                  + terminal(verdict_text(s, result.record.floor, result.config is not None)))


def run_page(result: "RunResult", steps=None) -> str:
    """A run: the verdict and the theory at the top, the per-layer table, every figure, the config and the
    metadata. ``steps``: the steps the signal ridges show (``distribution_plots.ridge_steps``)."""
    from ..results import config_yaml
    from .plots import describe, run_figures
    from .remedies_table import render_remedies
    from .table import layer_table

    s, cfg = result.summary, result.config
    config = (code(config_yaml(cfg)) if cfg is not None else  # a run directory another program wrote
              f"<p>None: {esc(s.get('writer') or 'another program')} wrote this run directory without a gradlab "
              f"config (config.yaml), so the mean-field theory is not applicable.</p>")
    remedies = render_remedies(s, title=False)
    body = [_run_banner(result),
            *(["<section><h2>What to try</h2>", terminal(remedies), "</section>"] if remedies is not None else []),
            "<section><h2>Per-layer gradients</h2>", terminal(layer_table(result)), "</section>",
            "<section><h2>Figures</h2>", figures(run_figures(result, steps), result), "</section>",
            "<section><h2>Run</h2>",
            facts([("run", s.get("run_id")), ("directory", result.run_dir), ("written by", s.get("writer")),
                   ("status", s.get("status")),
                   ("steps", f"{s.get('steps_run')}/{s.get('steps')}"), ("parameters", s.get("n_params")),
                   ("wall time", f"{s['wall_time_s']:.3g} s" if s.get("wall_time_s") is not None else None),
                   ("versions", _versions(s)), *_provenance(s.get("provenance") or {})]),
            "<h3>Config, as resolved</h3>", config, "</section>"]
    return page(f"gradlab run: {result.name}", describe(result), "\n".join(body))


# ---------------------------------------------------------------- a sweep


def _counts(rows: list[dict]) -> str:
    """How many runs got each verdict, and how many did not complete, as coloured badges."""
    seen: dict[str, int] = {}
    for row in rows:
        for word in {row["verdict"] or row["status"], *([row["status"]] if row["status"] != "completed" else [])}:
            seen[word] = seen.get(word, 0) + 1
    return " ".join(badge(f"{word} {n}", word) for word, n in sorted(seen.items(), key=lambda kv: -kv[1]))


def _shape(summary: "SweepSummary") -> str:
    from .sweep_table import axis_title

    return " × ".join(f"{axis_title(a.name)} ({len(a.values)})" for a in summary.axes)


def _sweep_banner(summary: "SweepSummary") -> str:
    """The verdicts at the top: counted as badges, then by group, then any failures."""
    from .sweep_table import failures, group_table

    return banner("", f"<p>{_counts(summary.rows)}</p>" + terminal(group_table(summary)) + terminal(failures(summary)))


def _sweep_figures(summary: "SweepSummary", makers: dict[str, Callable]) -> str:
    """The sweep's figures once every run has finished; until then, a line saying so."""
    pending = sum(r["status"] == "pending" for r in summary.rows)
    return (figures(makers, summary) if not pending else
            f"<p>{pending} runs are not finished yet: the figures are drawn when every run has finished "
            f"(re-run the sweep command to complete them).</p>")


def sweep_page(summary: "SweepSummary") -> str:
    """A sweep: the verdicts by group at the top, every figure, every run, the spec."""
    from .sweep_plots import sweep_figures
    from .sweep_table import runs_table

    shape = _shape(summary)
    spec = summary.folder / "sweep.yaml" if summary.folder is not None else None
    body = [_sweep_banner(summary), "<section><h2>Figures</h2>", _sweep_figures(summary, sweep_figures(summary)),
            "</section>",
            "<section><h2>Every run</h2>", '<div class="scroll">', terminal(runs_table(summary)), "</div></section>",
            "<section><h2>Sweep</h2>",
            facts([("directory", summary.folder), ("runs", len(summary.rows)), ("axes", shape)])]
    if spec is not None and spec.is_file():
        from ..results import read_text

        body += ["<h3>Spec (sweep.yaml)</h3>", code(read_text(spec))]
    body.append("</section>")
    return page(f"gradlab sweep: {summary.name}", f"{len(summary.rows)} runs over {shape}", "\n".join(body))


# ---------------------------------------------------------------- a comparison


def _dec(value: float) -> str:
    return "–" if math.isnan(value) else ("+∞" if value > 0 else "−∞") if math.isinf(value) else f"{value:+.2f}"


def differences_table(pair: "Pair", tolerance: float | None) -> Table:
    """Every difference of a pair, largest first; verdict changes, gaps and drifts beyond ``tolerance`` in red."""
    from rich import box

    from ..compare import where

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, header_style="bold",
                  caption="log10 values; Δ in decades (+0.30 is a factor 2, current over baseline)",
                  caption_justify="left", caption_style="dim")
    for name in ("what", "where", "baseline", "current", "Δ decades"):
        table.add_column(name, justify="left" if name in ("what", "where") else "right", no_wrap=True)
    for key, a, b in pair.verdict_changes:
        table.add_row(Text(f"verdict: {a} → {b}"), Text(str(key)), "", "", "changed", style="bold red")
    for key in pair.missing:
        table.add_row("missing on one side", Text(str(key)), "", "", "–", style="bold red")
    ranked = sorted(pair.differences, key=lambda d: (-abs(d.decades) if not math.isnan(d.decades) else 1.0))
    for d in ranked:
        bad = tolerance is not None and abs(d.decades) > tolerance
        table.add_row(d.metric, where(pair.other, d.key), _dec(d.reference).lstrip("+"), _dec(d.value).lstrip("+"),
                      _dec(d.decades), style="bold red" if bad else "")
    return table


def _largest(pairs: list["Pair"]) -> str:
    from ..compare import where

    found = [(p, p.largest) for p in pairs if p.largest is not None]
    if not found:
        return "–"
    p, d = max(found, key=lambda pd: abs(pd[1].decades))
    if d.decades == 0:
        return "none: every value is identical"
    return f"{_dec(d.decades)} decades ({p.other.name}: {d.metric} at {where(p.other, d.key)})"


SIDE_FIGURES = {"run": "grad_profile.png", "sweep": "ratio_vs_x.png"}


def _side_figure(side, role: str, committed: bool) -> str:
    """A side's figure: drawn from the data being compared, so it cannot be stale; or (``committed``, for a
    baseline) the figure its directory keeps, which is what was reviewed and committed, if it has one."""
    from ..results import read_bytes
    from .figure import png_bytes
    from .plots import FIGURES
    from .sweep_plots import FIGURES as SWEEP_FIGURES

    name = SIDE_FIGURES[side.kind]
    kept = side.path / "plots" / name
    if committed and kept.is_file():
        return image(read_bytes(kept), f"{role}: {side.name}, as committed ({kept})")
    make = (FIGURES if side.kind == "run" else SWEEP_FIGURES)[name]
    return image(png_bytes(make(side.data)), f"{role}: {side.name} ({side.path})")


def _mark(bad: bool, tol: float | None) -> str:
    return "" if tol is None else badge("drifted", "exploding") if bad else badge("ok", "healthy")


def _contents(pairs: list["Pair"], failed: list[bool], order: list[int], tol: float | None) -> str:
    """One line per experiment, linking to its section: a reviewer goes straight to what drifted."""
    items = []
    for i in order:
        pair, largest = pairs[i], pairs[i].largest
        size = f"largest Δ {_dec(largest.decades)}" if largest is not None else "nothing to compare"
        items.append(f'<li>{_mark(failed[i], tol)}<a href="#{esc(pair.other.kind)}-{i}">{esc(pair.other.kind)} '
                     f"{esc(pair.other.name)}</a> · {esc(size)}</li>")
    return f'<nav><ul class="contents">{"".join(items)}</ul></nav>'


OVERLAY_CAPTIONS = ("overlay: baseline and current on shared axes",
                    "the back-propagated signal's distribution per layer, baseline and current: a shift of the "
                    "median is the whole distribution moving, a wider band only its tail")


def compare_page(found: "Comparison", overlays: list[list[bytes]]) -> str:
    """A comparison: the totals and the exit status at the top, then per pair the two sides' figures side by
    side, their overlays, and every difference with the drifts in red. ``overlays``: per item of
    ``found.overlays``, its overlay PNGs (``compare_plots.overlays``: the norms, then the distributions where
    both runs have them)."""
    tol = found.tolerance
    failed = [bool(p.failures(tol)) if tol is not None else False for p in found.pairs]
    n, drifted = len(found.pairs), sum(failed)
    status = found.exit_code
    head = ([f"<span><b>{n}</b> experiments checked</span>", f"<span><b>{n - drifted}</b> within tolerance</span>",
             f'<span class="{"bad" if drifted else ""}"><b>{drifted}</b> drifted</span>']
            if tol is not None else [f"<span><b>{n}</b> compared with the first input</span>"])
    if found.unmatched:
        head.append(f'<span class="bad"><b>{len(found.unmatched)}</b> without a counterpart</span>')
    head.append(f"<span>largest difference: <b>{esc(_largest(found.pairs))}</b></span>")
    verdict = ("fail" if status else "pass") if tol is not None else "compared"
    tone = "exploding" if status else "healthy"
    top = banner(tone, f'<p>{badge(verdict.upper(), tone)} exit status {status}'
                       + (f" · tolerance {tol:g} decades of log10 norm" if tol is not None else "") + "</p>"
                 + f'<div class="summary">{" ".join(head)}</div>'
                 + (f'<p class="bad">{esc("; ".join(found.unmatched))}</p>' if found.unmatched else ""))
    order = sorted(range(n), key=lambda i: not failed[i])  # what drifted first
    body = [top, _contents(found.pairs, failed, order, tol)]
    first = found.pairs[0].reference.name if found.pairs and tol is None else None
    roles = ("baseline", "current") if tol is not None else ("reference", "other")
    for i in order:
        ref, cur = found.pairs[i].reference, found.pairs[i].other
        body += [f'<section id="{esc(cur.kind)}-{i}"><h2>{_mark(failed[i], tol)}{esc(cur.kind)} {esc(cur.name)}</h2>',
                 f'<p class="sub">{roles[0]} {esc(ref.path)} · {roles[1]} {esc(cur.path)}</p>',
                 '<div class="pair">', _side_figure(ref, roles[0], tol is not None), _side_figure(cur, roles[1], False),
                 "</div>"]
        if tol is not None and i < len(overlays):
            body += [image(png, caption) for png, caption in zip(overlays[i], OVERLAY_CAPTIONS)]
        body += ['<div class="scroll">', terminal(differences_table(found.pairs[i], tol)), "</div></section>"]
    if tol is None and overlays:
        captions = (f"every input against {first}", *OVERLAY_CAPTIONS[1:])
        body.insert(1, "<section><h2>Overlay</h2>"
                    + "".join(image(png, caption) for png, caption in zip(overlays[0], captions)) + "</section>")
    title = "gradlab compare" + (" against a baseline" if tol is not None else "")
    return page(title, f"{n} comparisons" + (f", tolerance {tol:g} decades" if tol is not None else ""),
                "\n".join(body))


# ---------------------------------------------------------------- the activation gallery


def activations_page(tables: list, png: bytes) -> str:
    """``gradlab activations --html``: the numbers as the terminal shows them, then the gallery with its hint."""
    body = ["<section><h2>Numbers</h2>", *(terminal(t) for t in tables), "</section>",
            "<section><h2>Gallery</h2>", image(png, CAPTIONS["activation_gallery.png"]), "</section>"]
    return page("gradlab activations", "each activation beside its derivative, and the numbers that decide "
                                       "whether gradients vanish", "\n".join(body))


# ---------------------------------------------------------------- in a notebook

VIEW = "gradlab-view"
VIEW_RULES = (":root", ".banner", ".badge", "pre", "pre.term", ".scroll", "figure", "figure img", "figcaption", ".sub")


def _view(body: str) -> str:
    """A fragment for a notebook's output, with the page's rules for the pieces it uses, each under the
    fragment's own class: the notebook has styles of its own (a ``.badge`` among them) that must stay as they
    are. Where a viewer strips the styles, the badges read as plain words and the tables keep their colours."""
    rules = re.findall(r"^(\S[^{]*?)\s*\{([^}]*)\}", CSS, re.M)  # top-level rules only: not the print ones
    css = " ".join(f".{VIEW}{'' if sel == ':root' else ' ' + sel} {{ {' '.join(decl.split())} }}"  # :root's colours
                   for sel, decl in rules if sel in VIEW_RULES)
    return f'<div class="{VIEW}"><style>{css}</style>\n{body}\n</div>'


def run_snippet(result: "RunResult") -> str:
    """A run as a notebook shows it (``RunResult._repr_html_``): the top of ``run_page``, its verdict and
    per-layer table, with one figure, the gradient profile (as a comparison shows a run)."""
    from .plots import FIGURES, describe
    from .table import layer_table

    where = f" · {result.run_dir}" if result.run_dir is not None else ""
    name = SIDE_FIGURES["run"]
    return _view("\n".join([f'<p class="sub">{esc(describe(result))}{esc(where)}</p>', _run_banner(result),
                            f'<div class="scroll">{terminal(layer_table(result))}</div>',
                            figures({name: FIGURES[name]}, result)]))


def sweep_snippet(summary: "SweepSummary") -> str:
    """A sweep as a notebook shows it (``SweepSummary._repr_html_``): the top of ``sweep_page``, its verdicts by
    group, with one figure, the first/last-layer ratio against x (as a comparison shows a sweep)."""
    from .sweep_plots import FIGURES

    where = f" · {summary.folder}" if summary.folder is not None else ""
    name = SIDE_FIGURES["sweep"]
    return _view("\n".join([f'<p class="sub">{esc(summary.name)}: {len(summary.rows)} runs over '
                            f"{esc(_shape(summary))}{esc(where)}</p>", _sweep_banner(summary),
                            _sweep_figures(summary, {name: FIGURES[name]})]))


# ---------------------------------------------------------------- writing

REPORT_NAME = "report.html"
DEFAULT = "\0"  # the CLI's `--html` given without a FILE (NUL cannot occur in a real argument)


def target(given: str | Path, folder: Path) -> Path:
    """Where ``--html [FILE]`` writes: ``folder/report.html`` without a FILE, inside FILE when it is a
    directory, else FILE itself."""
    if str(given) == DEFAULT:
        return Path(folder) / REPORT_NAME
    return Path(given) / REPORT_NAME if Path(given).is_dir() else Path(given)


def write_page(path: Path, text: str) -> Path:
    """Write a page atomically (a reader never sees half a report), creating its folder."""
    from ..results import atomic_write, make_dir

    make_dir(path.parent)
    atomic_write(path, text)
    return path
