"""Present an eval report (`rag.eval.evaluate`): a compact terminal table, markdown and a PNG chart.

`write_report` saves `<UTC time>.json` (the report itself), `<UTC time>.md` (tables plus the
failure list a person reads to see why) and `<UTC time>.png` (hit@k and answer metrics).
The chart is drawn on matplotlib's Agg canvas directly, without pyplot, so no global
backend is touched and nothing needs a display.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["format_markdown", "format_report", "plot_report", "write_report"]

ANSWER_COLUMNS = (
    ("accuracy", "accuracy"),
    ("refusal_rate", "refusal"),
    ("false_refusal_rate", "false refusal"),
    ("citation_support", "citation support"),
)
_CELL_LIMIT = 160  # characters of a question, expectation or answer shown in the failure table


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.1f}"


def _retrieval_columns(report: dict[str, Any]) -> list[str]:
    return [f"hit@{k}" for k in report["config"]["ks"]] + ["mrr@10"]


def _brief(value: Any) -> str:
    """One engine.health() value in a few characters: a dict (the embedder) shows its id."""
    if isinstance(value, dict):
        return str(value.get("id", ", ".join(f"{k}={v}" for k, v in value.items())))
    return str(value)


def _header_line(report: dict[str, Any]) -> str:
    engine = report.get("engine") or {}
    described = ", ".join(f"{k} {_brief(v)}" for k, v in engine.items()
                          if k in ("embedder", "chunks", "articles", "version"))
    return f"rag eval ({report['kind']})  {report['created_utc']}  {report['n_items']} questions" + (
        f"  [{described}]" if described else ""
    )


# ----------------------------------------------------------------------------- terminal


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    def line(row: Sequence[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    return [line(row) for row in rows]


def format_report(report: dict[str, Any]) -> str:
    """A compact plain-text summary for the terminal: retrieval per mode, answers per type."""
    columns = _retrieval_columns(report)
    search = report["timings_ms"]["search"]
    rows = [["retrieval", "n", *columns, "p50 ms", "p95 ms"]]
    for mode, section in report["retrieval"].items():
        block = section["overall"]
        rows.append([mode, _num(block["n"]), *(_num(block[c]) for c in columns),
                     _ms(search[mode]["p50"]), _ms(search[mode]["p95"])])
        if "multi/all" in section["by_type"]:
            every = section["by_type"]["multi/all"]
            rows.append(["  multi, all evidence", _num(every["n"]), *(_num(every[c]) for c in columns), "", ""])
    lines = [_header_line(report), "", *_table(rows), ""]
    answers = report["answers"]
    rows = [["answers", "n", *(label for _, label in ANSWER_COLUMNS)]]
    for name, block in [("all", answers["overall"]), *answers["by_type"].items()]:
        rows.append([name, _num(block["n"]), *(_num(block[key]) for key, _ in ANSWER_COLUMNS)])
    for name, block in answers.get("by_group", {}).items():
        hit = report["retrieval"].get("hybrid", {}).get("by_group", {}).get(name, {})
        label = f"{name} (hit@1 {_num(hit.get('hit@1'))})" if hit else name
        rows.append([label, _num(block["n"]), *(_num(block[key]) for key, _ in ANSWER_COLUMNS)])
    ask = report["timings_ms"]["ask"]
    lines += [*_table(rows), "", f"ask: p50 {_ms(ask['p50'])} ms, p95 {_ms(ask['p95'])} ms"]
    where = " (listed in the markdown report)" if report["failures"] else ""
    lines.append(f"failures: {len(report['failures'])}{where}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- markdown


def _cell(value: Any, limit: int = _CELL_LIMIT) -> str:
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _md_retrieval(report: dict[str, Any]) -> list[str]:
    columns = _retrieval_columns(report)
    search = report["timings_ms"]["search"]
    rows = [[mode, _num(s["overall"]["n"]), *(_num(s["overall"][c]) for c in columns),
             _ms(search[mode]["p50"]), _ms(search[mode]["p95"])] for mode, s in report["retrieval"].items()]
    lines = ["## Retrieval", "", *_md_table(["mode", "n", *columns, "p50 ms", "p95 ms"], rows)]
    for mode, section in report["retrieval"].items():
        rows = [[kind, _num(b["n"]), *(_num(b[c]) for c in columns)] for kind, b in section["by_type"].items()]
        lines += ["", f"### {mode} by question type", "", *_md_table(["type", "n", *columns], rows)]
    return lines


def _md_answers(report: dict[str, Any]) -> list[str]:
    answers = report["answers"]
    header = ["type", "n", *(label for _, label in ANSWER_COLUMNS), "citations"]
    rows = [[name, _num(b["n"]), *(_num(b[key]) for key, _ in ANSWER_COLUMNS), _num(b["citations"])]
            for name, b in [("**all**", answers["overall"]), *answers["by_type"].items()]]
    ask = report["timings_ms"]["ask"]
    return ["## Answers", "", f"Asked in the engine's default mode, top {report['config']['ask_top_k']}; "
            f"ask p50 {_ms(ask['p50'])} ms, p95 {_ms(ask['p95'])} ms.", "", *_md_table(header, rows)]


def _md_failures(report: dict[str, Any]) -> list[str]:
    failures = report["failures"]
    if not failures:
        return ["## Failures", "", "None."]
    header = ["id", "type", "kind", "mode", "question", "expected", "got"]
    rows = [[_cell(f[key]) for key in header] for f in failures]
    note = (f"Retrieval rows: no evidence within the top {report['config']['fail_k']}. "
            "Citation rows: the passage holds neither evidence nor every figure attributed to it.")
    return ["## Failures", "", note, "", *_md_table(header, rows)]


def format_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: summary tables, then every failure with what was expected."""
    lines = [f"# Eval report {report['created_utc']}", "", f"- kind: {report['kind']}",
             f"- questions: {report['n_items']}"]
    for key, value in (report.get("engine") or {}).items():
        lines.append(f"- {key}: {_brief(value)}")
    if "dataset" in report:
        lines.append(f"- data: {report['dataset']['corpus']}, {report['dataset']['qa']}")
    lines.append("")
    for part in (_md_retrieval(report), _md_answers(report), _md_failures(report)):
        lines += [*part, ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- chart


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """Draw hit@k and MRR per mode (left) and the answer rates (right) into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    columns = _retrieval_columns(report)
    modes = list(report["retrieval"])
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        values = [report["retrieval"][mode]["overall"][c] or 0.0 for c in columns]
        left.bar([x + i * width for x in range(len(columns))], values, width, label=mode)
    left.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(columns))], columns)
    left.set_ylim(0, 1.15)
    left.set_title("retrieval")
    left.legend(loc="upper center", ncols=len(modes), fontsize=8, frameon=False)
    overall = report["answers"]["overall"]
    labels = [label for _, label in ANSWER_COLUMNS]
    values = [overall[key] or 0.0 for key, _ in ANSWER_COLUMNS]
    bars = right.bar(labels, values, color=["tab:green", "tab:blue", "tab:red", "tab:purple"])
    right.bar_label(bars, labels=[_num(overall[key], 2) for key, _ in ANSWER_COLUMNS])
    right.set_ylim(0, 1.1)
    right.set_title("answers")
    right.tick_params(axis="x", labelsize=8)
    figure.suptitle(f"{report['kind']} eval, {report['n_items']} questions, {report['created_utc']}")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------- files


def _free_stem(out_dir: Path, created_utc: str) -> str:
    base = created_utc.replace("-", "").replace(":", "")  # 2025-11-22T06:40:12Z -> 20251122T064012Z
    stem, n = base, 1
    while any((out_dir / f"{stem}{ext}").exists() for ext in (".json", ".md", ".png")):
        n += 1
        stem = f"{base}-{n}"
    return stem


def write_report(report: dict[str, Any], out_dir: Path = Path("eval/reports")) -> list[Path]:
    """Write `<UTC time>.json`, `.md` and `.png` into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _free_stem(out_dir, report["created_utc"])
    json_path, md_path, png_path = (out_dir / f"{stem}{ext}" for ext in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(format_markdown(report), encoding="utf-8")
    plot_report(report, png_path)
    return [json_path, md_path, png_path]
