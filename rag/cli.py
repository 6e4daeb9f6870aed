"""The `rag` command line. User mistakes become click error messages, never tracebacks.

    rag corpus                 # the articles under ./corpus, as a table
    rag index                  # build or update index/ from corpus/
    rag ask "招远2023年黄金产业总产值是多少？" --json   # what POST /ask returns
    rag serve                  # chat UI at /ui and the API, building the index on first run
    rag add today.md           # add articles to the index (into corpus/uploads/)
    rag eval --check           # the gold set; exit 1 below the committed thresholds
    rag bench                  # speed: build, legs, ask, HTTP load, scale sweep
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import click

from rag.chunking import chunk_article
from rag.corpus import load_corpus
from rag.errors import RagError
from rag.settings import Settings
from rag.config import CHUNK_CHARS, COMPOSERS, DEFAULT_TOP_K, MAX_TOP_K
from rag.types import MODES

__all__ = ["main"]


class _Group(click.Group):
    """Shows a RagError's message (meant for the user) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
def main() -> None:
    """Question answering over Chinese newspaper articles, with citations."""


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    """`text` cut and padded to `width` terminal columns (CJK characters take two)."""
    out = ""
    for ch in text:
        if _width(out + ch) > width - (1 if _width(text) > width else 0):
            return out + "…" + " " * (width - _width(out) - 1)
        out += ch
    return out + " " * (width - _width(out))


def _table(rows: list[dict[str, Any]]) -> str:
    columns = [("id", 16), ("title", 40), ("date", 10), ("source", 26), ("chunks", 6), ("characters", 10)]
    lines = ["  ".join(_fit(name, width) for name, width in columns).rstrip()]
    for row in rows:
        cells = []
        for name, width in columns:
            value = row[name] if row[name] is not None else "-"
            cell = str(value)
            cells.append(cell.rjust(width) if isinstance(value, int) else _fit(cell, width))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@main.command()
@click.argument("path", default="corpus", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Read at most this many articles.")
def corpus(path: Path, as_json: bool, limit: int | None) -> None:
    """List the articles found under PATH (a folder or one file; default ./corpus).

    Example: rag corpus ./corpus --json
    """
    if not path.exists():
        raise click.ClickException(
            f"No corpus at '{path}'. Pass a folder of .txt/.md/.html/.jsonl files, e.g. `rag corpus ./corpus`."
        )
    try:
        load = load_corpus(path, limit=limit)
    except RagError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in load.warnings:
        click.echo(f"warning: {warning}", err=True)
    rows = [
        {
            "id": a.id,
            "title": a.title,
            "date": a.date,
            "date_source": a.date_source,
            "source": a.source,
            "publication": a.publication,
            "chunks": len(chunk_article(a)),
            "characters": sum(len(p) for p in a.paragraphs),
        }
        for a in load.articles
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(_table(rows))
    files = len({row["source"] for row in rows})
    click.echo(f"{len(rows)} articles, {sum(r['chunks'] for r in rows)} chunks, from {files} file(s)")


# ---------------------------------------------------------------------------- index / ask / serve


def _settings(**overrides) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _progress_echo(message: str) -> None:
    click.echo(message, err=True)


def ensure_index(settings: Settings, *, quiet: bool = False) -> None:
    """Build the index when there is none; update it when the corpus it was built from changed.

    An index is only ever updated from the corpus its manifest records, and only with the
    embedder and chunk size it was built with. A corpus named on purpose (`--corpus`,
    RAG_CORPUS_DIR) other than that one is an error naming both. A damaged index, or one
    whose corpus is gone, is left as it is: loading it says what is wrong and how to repair it.
    """
    from rag.errors import IndexConflictError
    from rag.index import index_manifest, index_source, index_status, repair_command

    index_dir = settings.index_dir
    manifest = index_manifest(index_dir)
    recorded = index_source(index_dir)
    named = settings.corpus_dir if "corpus_dir" in settings.model_fields_set else None
    if recorded is not None and named is not None and named.resolve() != recorded:
        raise IndexConflictError(
            f"the index at {index_dir} was built from {recorded}, not from {named}: serve it as it is with "
            f"`rag serve --index-dir {index_dir}` (it is updated from its own corpus), or replace it with an "
            f"index of {named} on purpose with `rag index {named} --index-dir {index_dir} --rebuild`"
        )
    if manifest is not None and recorded is None:
        return  # an index that does not say where it came from is served as it is
    source = recorded or settings.corpus_dir
    if not source.exists():
        if recorded is not None and not quiet:
            _progress_echo(f"warning: {source}, the corpus {index_dir} was built from, is not there; "
                           f"serving the index as it is")
        return
    status = index_status(index_dir, source)
    if status in ("fresh", "damaged"):
        if status == "damaged" and not quiet:
            _progress_echo(f"warning: the index at {index_dir} is damaged; it is left as it is. "
                           f"Repair it with {repair_command(index_dir, manifest)}")
        return
    from rag.embedders import make_embedder
    from rag.index import build_index

    embedder = make_embedder(settings.embedder)
    chunk_chars = settings.chunk_chars
    if manifest is not None:
        built_with = manifest["embedder"].get("id") if isinstance(manifest.get("embedder"), dict) else None
        if built_with != embedder.id:
            _progress_echo(f"warning: {source} changed since {index_dir} was built, but the index was built with "
                           f"{built_with!r}, not {embedder.id!r}; it is not updated. Update it with "
                           f"`rag index {source} --index-dir {index_dir} --embedder <the one it was built with>`")
            return
        chunk_chars = manifest.get("chunk_chars", chunk_chars)
    if not quiet:
        _progress_echo(f"no index yet: indexing {source} into {index_dir} …" if status == "missing" else
                       f"{source} changed since the index was built: updating {index_dir} from it …")
    report = build_index(source, index_dir, embedder, chunk_chars=chunk_chars, progress=not quiet,
                         profile=settings.profile, store=settings.store, milvus_uri=settings.milvus_uri)
    for warning in report.warnings:
        _progress_echo(f"warning: {warning}")
    if not quiet:
        _progress_echo(f"indexed {report.articles} articles, {report.chunks} chunks in {report.seconds:.1f}s")


@main.command("index")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--index-dir", type=click.Path(path_type=Path), help="where the index lives (default: index/)")
@click.option("--embedder", help="e5 (default), e5-nano, e5-bf16, st:<model folder or name>, hash:384")
@click.option("--chunk-chars", type=int, help=f"maximum chunk length in characters (default {CHUNK_CHARS})")
@click.option("--profile", help="corpus profile: national, shandong or a folder (default: the index's, "
                                "else the corpus's .rag-profile, else national)")
@click.option("--rebuild", is_flag=True,
              help="ignore the previous index (even one of another corpus) and embed everything again")
@click.option("--store", type=click.Choice(["local", "milvus"]),
              help="where vectors and the keyword index live (default: RAG_STORE, else what the index records, else local)")
@click.option("--milvus-uri", help="milvus-lite file (default <index-dir>/milvus.db) or http://host:19530")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None,
              help="ingest on Ray (with --store milvus): --ray alone starts a local Ray, --ray ADDRESS joins a cluster")
@click.option("--json", "as_json", is_flag=True, help="print the build report as JSON")
def index_cmd(path, index_dir, embedder, chunk_chars, profile, rebuild, store, milvus_uri, ray_address, as_json):
    """Build or update the index of a corpus folder or file (default: the corpus the index
    was built from, else corpus/).

    Only files that changed since the last build are read again, and only chunks whose
    text changed are embedded again; removed files disappear from the index. An index of
    another corpus is replaced only with --rebuild; one build of an index at a time.

    Example: rag index corpus --index-dir index

    Into Milvus, ingesting on a local Ray: rag index corpus --index-dir index_m --store milvus --ray
    """
    from rag.index import index_source

    settings = _settings(index_dir=index_dir, embedder=embedder, chunk_chars=chunk_chars, profile=profile,
                         store=store, milvus_uri=milvus_uri)
    source = path or index_source(settings.index_dir) or settings.corpus_dir
    from rag.embedders import make_embedder
    from rag.index import build_index

    report = build_index(source, settings.index_dir, make_embedder(settings.embedder),
                         chunk_chars=settings.chunk_chars, rebuild=rebuild, progress=not as_json,
                         profile=settings.profile, store=settings.store, milvus_uri=settings.milvus_uri,
                         ray_address=ray_address)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    if report.unchanged:
        click.echo(f"index at {report.index_dir} is up to date ({report.articles} articles, {report.chunks} chunks)")
        return
    changes = ", ".join(
        f"{label} {len(names)}" for label, names in
        (("added", report.files_added), ("changed", report.files_changed), ("removed", report.files_removed)) if names
    )
    click.echo(
        f"indexed {report.articles} articles, {report.chunks} chunks into {report.index_dir} in {report.seconds:.1f}s "
        f"(files {changes or 'unchanged'}; embedded {report.embedded}, reused {report.reused}"
        + (f", {report.passages_per_s:.1f} passages/s" if report.embedded else "") + ")"
    )


@main.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--index-dir", type=click.Path(path_type=Path), help="the index to update (default: index/)")
@click.option("--json", "as_json", is_flag=True, help="print what POST /articles returns")
def add_cmd(files, index_dir, as_json):
    """Add article files (.txt, .md, .html, .jsonl) to the index, incrementally.

    The files are copied into uploads/ inside the corpus folder the index was built from,
    so a later `rag index` keeps them. A running `rag serve` on the same index answers from
    the new index within seconds; questions under way finish on the old one.

    Example: rag add today/*.md --index-dir index
    """
    from rag.embedders import make_embedder
    from rag.uploads import add_files, corpus_of

    settings = _settings(index_dir=index_dir)
    data = []
    for path in files:
        if not path.is_file():
            raise click.ClickException(f"no file at {path}: give article files (.txt, .md, .html, .jsonl)")
        data.append((path.name, path.read_bytes()))
    manifest = _manifest(settings.index_dir)
    embedder = make_embedder(_embedder_spec(manifest))
    change = add_files(corpus_of(settings.index_dir), settings.index_dir, embedder, data)
    if as_json:
        click.echo(json.dumps(change.to_dict(), ensure_ascii=False, indent=2))
        return
    for a in change.articles:
        click.echo(f"{a.id}  {a.date or '-':10}  {a.title}  ({a.source})")
    report = change.report
    click.echo(f"added {len(change.articles)} article(s) to {settings.index_dir}: now {report.articles} articles, "
               f"{report.chunks} chunks (embedded {report.embedded}) in {report.seconds:.1f}s")


@main.command("remove")
@click.argument("article_id")
@click.option("--index-dir", type=click.Path(path_type=Path), help="the index to update (default: index/)")
def remove_cmd(article_id, index_dir):
    """Remove an uploaded article (the uploaded file that holds it) from the index.

    Example: rag remove 3f2a9c0d1e4b5a6f
    """
    from rag.embedders import make_embedder
    from rag.uploads import corpus_of, delete_article

    settings = _settings(index_dir=index_dir)
    embedder = make_embedder(_embedder_spec(_manifest(settings.index_dir)))
    change = delete_article(corpus_of(settings.index_dir), settings.index_dir, embedder, article_id)
    click.echo(f"removed {', '.join(change.files)} ({len(change.articles)} article(s)); "
               f"now {change.report.articles} articles")


def _manifest(index_dir: Path) -> dict:
    try:
        return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"no index at {index_dir}: build one first with `rag index corpus --index-dir {index_dir}`"
        ) from exc


def _embedder_spec(manifest: dict) -> str:
    """The `--embedder` value that rebuilds vectors like the index's own."""
    built = manifest["embedder"]["id"]
    if built == "multilingual-e5-small":
        return "e5"
    if built.startswith("hash"):
        return f"hash:{manifest['embedder']['dim']}"
    return f"st:{built[3:]}" if built.startswith("st:") else built


def _open_engine(index_dir: Path | None, embedder: str | None, composer: str | None = None):
    settings = _settings(index_dir=index_dir, embedder=embedder, composer=composer)
    from rag.api import load_engine

    return load_engine(settings)


def _print_answer(answer) -> None:
    label = "未找到答案" if answer.refused else "答案"
    click.echo(f"{label}：{answer.text}\n")
    for c in answer.citations:
        date = f" {c.date}" if c.date else ""
        text = c.text if len(c.text) <= 160 else c.text[:160] + "…"
        click.echo(f"[{c.n}] 《{c.title}》{date}（{c.source}）\n    {text}")


@main.command("ask")
@click.argument("question")
@click.option("--top-k", default=DEFAULT_TOP_K, show_default=True, help=f"how many sources to cite at most (1-{MAX_TOP_K})")
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(MODES))
@click.option("--index-dir", type=click.Path(path_type=Path), help="the index to read (default: index/)")
@click.option("--embedder", help="the query embedder (default: the one the index was built with)")
@click.option("--composer", type=click.Choice(COMPOSERS), help="answer composer (default: RAG_COMPOSER)")
@click.option("--json", "as_json", is_flag=True, help="print exactly what POST /ask returns")
def ask_cmd(question, top_k, mode, index_dir, embedder, composer, as_json):
    """Answer a question from the indexed articles, with citations.

    Example: rag ask "招远2023年黄金产业总产值是多少？" --json
    """
    engine = _open_engine(index_dir, embedder, composer)
    answer = engine.ask(question, top_k=top_k, mode=mode)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)


@main.command("search")
@click.argument("query")
@click.option("--top-k", default=DEFAULT_TOP_K, show_default=True)
@click.option("--mode", default="hybrid", show_default=True, type=click.Choice(MODES))
@click.option("--index-dir", type=click.Path(path_type=Path))
@click.option("--embedder")
@click.option("--json", "as_json", is_flag=True, help="print exactly what POST /search returns")
def search_cmd(query, top_k, mode, index_dir, embedder, as_json):
    """Retrieve passages for a query without composing an answer.

    Example: rag search "招远 黄金产业 总产值" --mode bm25
    """
    engine = _open_engine(index_dir, embedder)
    hits, timings = engine.search_timed(query, top_k, mode)
    if as_json:
        click.echo(json.dumps({"hits": [h.to_dict() for h in hits], "timings_ms": timings}, ensure_ascii=False, indent=2))
        return
    for i, h in enumerate(hits, 1):
        click.echo(f"{i}. {h.score:.4f} 《{h.title}》（{h.source}）\n   {h.text[:150]}")


@main.command("serve")
@click.option("--host", help="interface to listen on (default 127.0.0.1)")
@click.option("--port", type=int, help="port (default 8000)")
@click.option("--index-dir", type=click.Path(path_type=Path), help="the index (default: index/)")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="corpus to index on first run; must be the one an existing index was built from")
@click.option("--embedder", help="e5 (default), st:<model>, hash:384")
@click.option("--no-ui", is_flag=True, help="serve the API only, without the Gradio chat at /ui")
def serve_cmd(host, port, index_dir, corpus_dir, embedder, no_ui):
    """Serve the chat UI (/ui) and the HTTP API (/ask, /search, /docs) with uvicorn.

    On first run, with no index, it builds one from corpus/ (or --corpus) and says so. An
    existing index is served as it is, updated only from the corpus it was built from.

    Example: rag serve --port 8000
    """
    import uvicorn

    from rag.api import create_app

    settings = _settings(host=host, port=port, index_dir=index_dir, corpus_dir=corpus_dir, embedder=embedder,
                         ui=False if no_ui else None)
    if settings.build_if_missing:
        ensure_index(settings)
    app = create_app(settings)
    click.echo(f"serving on http://{settings.host}:{settings.port}/ (chat at /ui, API docs at /docs)", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


@main.command("eval")
@click.argument("gold", nargs=-1, type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="which part of the gold files: dev (tuned on) or test (only measured)")
@click.option("--composer", type=click.Choice(COMPOSERS), help="answer composer (default: RAG_COMPOSER)")
@click.option("--dataset", type=click.Choice(["mrc"]),
              help="mrc: the held-out DRCD/CMRC passages through the whole pipeline, instead of gold files")
@click.option("--mrc-dir", type=click.Path(path_type=Path), default=Path("../shared/data/mrc"), show_default=True)
@click.option("--sample", default=300, show_default=True, help="questions sampled for --dataset mrc")
@click.option("--modes", default=",".join(MODES), show_default=True, help="retrieval modes to compare")
@click.option("--index-dir", type=click.Path(path_type=Path), help="the index (default: index/, built if missing)")
@click.option("--embedder", help="e5 (default), st:<model>, hash:384")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("eval/reports"), show_default=True)
@click.option("--check", is_flag=True, help="exit 1 when a metric misses eval/thresholds.json")
@click.option("--thresholds", type=click.Path(path_type=Path), default=Path("eval/thresholds.json"), show_default=True)
@click.option("--public-corpus", type=click.Path(path_type=Path), help="public QA: corpus JSONL (id, title, text)")
@click.option("--public-qa", type=click.Path(path_type=Path), help="public QA: questions JSONL (question, answers, passage_id)")
def eval_cmd(gold, split, composer, dataset, mrc_dir, sample, modes, index_dir, embedder, out_dir, check,
             thresholds, public_corpus, public_qa):
    """Score retrieval and answers on gold files; write JSON, Markdown and PNG reports.

    Example: rag eval eval/gold.jsonl eval/news_heldout.jsonl eval/news_fresh.jsonl --split test --check
    """
    from rag.eval.evaluate import check_thresholds, load_thresholds, run_eval, run_public_qa
    from rag.eval.gold import EVAL_SETS
    from rag.eval.report import format_report, write_report

    mode_list = tuple(m.strip() for m in modes.split(",") if m.strip())
    settings = _settings(index_dir=index_dir, embedder=embedder, composer=composer)
    if public_corpus or public_qa or dataset:
        if not dataset and not (public_corpus and public_qa):
            raise click.UsageError("--public-corpus and --public-qa go together")
        import tempfile

        from rag.embedders import make_embedder
        from rag.eval.evaluate import held_out_mrc

        with tempfile.TemporaryDirectory() as work:
            if dataset == "mrc":
                public_corpus, public_qa = held_out_mrc(mrc_dir, Path(work) / "data", sample)
            report = run_public_qa(public_corpus, public_qa, make_embedder(settings.embedder), Path(work), mode_list,
                                   composer=settings.composer)
    else:
        from rag.eval.gold import load_gold

        ensure_index(settings)
        items, groups = [], {}
        for path in gold or EVAL_SETS:
            for item in load_gold(path):
                if split == "all" or item.split == split:
                    items.append(item)
                    groups[item.id] = f"{Path(path).stem}/{item.split or 'all'}"
        if not items:
            raise click.UsageError(f"no {split} questions in {', '.join(map(str, gold or EVAL_SETS))}")
        if len(groups) != len(items):
            raise click.UsageError("two gold files share question ids: give each question an id of its own")
        report = run_eval(_open_engine(settings.index_dir, settings.embedder, settings.composer), items, mode_list,
                          groups=groups)
        report["config"]["split"] = split
        report["config"]["gold"] = [str(p) for p in (gold or EVAL_SETS)]
    click.echo(format_report(report))
    for path in write_report(report, out_dir):
        click.echo(f"wrote {path}", err=True)
    if check:
        failures = check_thresholds(report, load_thresholds(thresholds))
        for line in failures:
            click.echo(f"below threshold: {line}", err=True)
        if failures:
            raise SystemExit(1)
        click.echo(f"all thresholds in {thresholds} met", err=True)


@main.command("train-reader")
@click.option("--out", type=click.Path(path_type=Path), default=Path("rag/models/reader"), show_default=True,
              help="where the weights, recipe and metrics go")
@click.option("--mrc-dir", type=click.Path(path_type=Path), default=Path("../shared/data/mrc"), show_default=True)
@click.option("--news", type=click.Path(path_type=Path), default=Path("../shared/data/crud_news.jsonl.gz"),
              show_default=True, help="news articles for generated cloze questions")
@click.option("--news-articles", default=6000, show_default=True)
@click.option("--minutes", default=90.0, show_default=True, help="stop after this long (a checkpoint is kept)")
@click.option("--epochs", default=1.0, show_default=True)
@click.option("--lr", default=4e-5, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--seed", default=13, show_default=True)
@click.option("--questions-per-article", default=1, show_default=True, help="cloze questions per news article")
@click.option("--news-sample", default=0.25, show_default=True, help="share of the news stream looked at")
@click.option("--mrc-repeat", default=1, show_default=True, help="times the MRC questions are repeated")
@click.option("--written", type=click.Path(path_type=Path), multiple=True,
              help="questions written in users' words (rag/training/data/*.jsonl); repeat for several files")
@click.option("--written-repeat", default=1, show_default=True, help="times the written questions are repeated")
@click.option("--init", "init_dir", type=click.Path(path_type=Path), default=None,
              help="go on from this trained reader (e.g. rag/models/reader) instead of the e5 base")
@click.option("--replay", default=0.0, show_default=True,
              help="with --init: share of that reader's own training pairs mixed back in")
@click.option("--hard-negatives", default=0, show_default=True,
              help="more negatives per MRC or written question: the sentence after the answer, and those "
                   "that echo the question without it")
@click.option("--pack", "pack_dir", type=click.Path(path_type=Path), default=None,
              help="write a training pack here and stop (for a GPU machine: see rag/training/pack.py)")
def train_reader_cmd(out, mrc_dir, news, news_articles, minutes, epochs, lr, batch_size, seed,
                     questions_per_article, news_sample, mrc_repeat, written, written_repeat, init_dir, replay,
                     hard_negatives, pack_dir):
    """Fine-tune the sentence reader from multilingual-e5-small (CPU or GPU; never run by CI).

    Example: nohup rag train-reader --minutes 90 > train.log &
    """
    from rag.training.train_reader import TrainConfig, recipe_of, train

    for path in (mrc_dir, news, *written):
        if not Path(path).exists():
            raise click.ClickException(f"{path} does not exist: the training data lives in ../shared/data/")
    if init_dir is not None:
        recipe_of(init_dir)  # a folder without a reader is refused before anything is written
    cfg = TrainConfig(out=str(out), mrc_dir=str(mrc_dir), news=str(news), news_articles=news_articles,
                      minutes=minutes, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                      questions_per_article=questions_per_article, news_sample=news_sample, mrc_repeat=mrc_repeat,
                      written=[str(w) for w in written], written_repeat=written_repeat,
                      init=str(init_dir or ""), replay=replay, hard_negatives=hard_negatives)
    if pack_dir is not None:
        from rag.training.pack import build_pack

        result = build_pack(cfg, pack_dir, log=lambda line: click.echo(line, err=True))
        result = {k: v for k, v in result.items() if k not in ("train_config", "bert_config")}
    else:
        result = train(cfg, log=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(result, ensure_ascii=False))


@main.command("bench")
@click.option("--sections", default="build,inproc,http,soak,scale", show_default=True,
              help="any of build, inproc, http, soak, scale, stores (local vs milvus-lite; needs the cluster extra)")
@click.option("--sizes", default="1000,10000,100000", show_default=True, help="scale sweep sizes in chunks")
@click.option("--embedder", default="e5", show_default=True)
@click.option("--repeat", default=3, show_default=True, help="passes over the questions for in-process timings")
@click.option("--per-client", default=25, show_default=True, help="requests per HTTP client")
@click.option("--soak-seconds", default=60.0, show_default=True, help="how long the soak section runs")
@click.option("--soak-clients", default=16, show_default=True, help="concurrent clients in the soak section")
@click.option("--store-sizes", default="10000,100000", show_default=True, help="stores section sizes in chunks")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("bench/results"), show_default=True)
def bench_cmd(sections, sizes, embedder, repeat, per_client, soak_seconds, soak_clients, store_sizes, out_dir):
    """Measure speed: index build, each retrieval leg, ask, HTTP under load, a soak, and scale.

    Example: rag bench --sections soak --soak-seconds 60 --soak-clients 16
    """
    from datetime import datetime, timezone

    from rag.bench.speed import format_bench, run_bench

    result = run_bench(
        embedder=embedder,
        sections=tuple(s.strip() for s in sections.split(",") if s.strip()),
        sizes=tuple(int(s) for s in sizes.split(",") if s.strip()),
        repeat=repeat,
        per_client=per_client,
        soak_seconds=soak_seconds,
        soak_clients=soak_clients,
        store_sizes=tuple(int(s) for s in store_sizes.split(",") if s.strip()),
    )
    click.echo(format_bench(result))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    click.echo(f"wrote {path}", err=True)


if __name__ == "__main__":
    main()
