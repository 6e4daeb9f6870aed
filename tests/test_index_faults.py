"""Faults around the index: damage on disk, builds killed with SIGKILL, a full disk, two
builds at once, a corpus that changes under the build, and indexes that belong to another
corpus. Each fault ends in a clear message and an index that still loads."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from rag import index as index_module
from rag.api import create_app
from rag.cli import main
from rag.embedders import HashEmbedder
from rag.engine import Engine
from rag.errors import IndexConflictError, IndexMismatchError, RagError
from rag.index import build_index, index_status, load_index
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NEW_ARTICLE = "威海新闻\n\n本报讯 威海市2024年新建5G基站1200个，同比增长12%。\n"


def leftovers(index_dir: Path) -> list[str]:
    """Half-written build folders or backups beside the index."""
    return sorted(p.name for p in index_dir.parent.glob(f".{index_dir.name}.*") if not p.name.endswith(".lock"))


# ---------------------------------------------------------------------------- damage


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _cut_chunk_line(index_dir: Path) -> None:
    lines = (index_dir / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3][: len(lines[3]) // 2] + "\n"
    (index_dir / "chunks.jsonl").write_text("".join(lines), encoding="utf-8")


def _edit_manifest(index_dir: Path) -> None:
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["embedder"]["dim"] = 768
    (index_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _break_manifest_json(index_dir: Path) -> None:
    (index_dir / "manifest.json").write_text('{"format_version": 1, "embedder": ')


DAMAGE = {
    "truncated vectors.npy": (lambda d: _truncate(d / "vectors.npy"), "vectors.npy is"),
    "chunk line cut in half": (_cut_chunk_line, "chunks.jsonl is"),
    "manifest edited by hand": (_edit_manifest, "manifest.json was changed after the build"),
    "manifest not JSON": (_break_manifest_json, "manifest"),
    "missing FAISS file": (lambda d: (d / "dense.faiss").unlink(), "dense.faiss is missing"),
    "missing manifest": (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
}


@pytest.fixture(params=sorted(DAMAGE))
def damaged(request, hash_index, tmp_path) -> tuple[Path, str]:
    index_dir = tmp_path / "index"
    shutil.copytree(hash_index, index_dir)
    damage, expected = DAMAGE[request.param]
    damage(index_dir)
    return index_dir, expected


def test_damage_is_named_with_the_repair_command(damaged):
    index_dir, expected = damaged
    with pytest.raises(IndexMismatchError) as caught:
        load_index(index_dir)
    message = str(caught.value)
    assert expected in message
    assert "rag index" in message and f"--index-dir {index_dir} --rebuild" in message


def test_damage_through_ask_health_and_the_api(damaged):
    index_dir, expected = damaged
    result = CliRunner().invoke(main, ["ask", "招远", "--index-dir", str(index_dir), "--embedder", "hash:384"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a message, no traceback
    assert expected in result.output and "--rebuild" in result.output
    app = create_app(Settings(ui=False, index_dir=index_dir, embedder="hash:384"))
    with TestClient(app) as client:  # the server starts (no crash loop) and says what is wrong
        health = client.get("/health")
        assert health.status_code == 503 and expected in health.json()["detail"]
        ask = client.post("/ask", json={"question": "招远"})
        assert ask.status_code == 503 and "--rebuild" in ask.json()["detail"]


def test_a_damaged_index_is_repaired_by_the_command_named(damaged, corpus_dir):
    index_dir, _ = damaged
    result = CliRunner().invoke(main, ["index", str(corpus_dir), "--index-dir", str(index_dir),
                                       "--embedder", "hash:384", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert load_index(index_dir).chunks


# ---------------------------------------------------------------------------- SIGKILL

KILLER = r"""
import os, shutil, signal, sys
from pathlib import Path
from rag import index as ix
point, corpus, index_dir = sys.argv[1:4]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "embedding":
    ix._embed = die
elif point == "slow":  # not killed: a long embedding, while another build tries its luck
    import time
    real_embed = ix._embed
    def slow(*args, **kwargs):
        print("embedding", flush=True)
        time.sleep(4)
        return real_embed(*args, **kwargs)
    ix._embed = slow
elif point == "writing":  # articles, chunks and vectors written; FAISS next
    ix.faiss.write_index = die
elif point == "swap":  # the old index moved aside, the new one not yet in place
    real_replace = os.replace
    os.replace = lambda src, dst: die() if ".building-" in str(src) else real_replace(src, dst)
elif point == "cleanup":  # the new index in place, the backup of the old one half removed
    real_rmtree = shutil.rmtree
    def rmtree(path, *args, **kwargs):
        if str(path).endswith(".previous"):
            die()
        return real_rmtree(path, *args, **kwargs)
    ix.shutil.rmtree = rmtree
from rag.cli import main
main(["index", corpus, "--index-dir", index_dir, "--embedder", "hash:64"])
"""


@pytest.mark.parametrize("point", ["embedding", "writing", "swap", "cleanup"])
def test_sigkill_during_a_build_keeps_an_index_that_answers(point, corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    before = load_index(index_dir).manifest["corpus_hash"]
    (corpus_copy / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", KILLER, point, str(corpus_copy), str(index_dir)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr

    engine = Engine.open(index_dir, HashEmbedder(64))  # the previous (or, after the swap, the new) index
    assert engine.index.manifest["corpus_hash"] == before or point == "cleanup"
    assert engine.ask("招远2023年黄金产业总产值是多少？").citations

    report = build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)  # the next build finishes
    assert report.unchanged == (point == "cleanup")
    assert any("1200个" in c.text for c in load_index(index_dir).chunks)
    assert leftovers(index_dir) == []
    assert index_status(index_dir, corpus_copy) == "fresh"


# ---------------------------------------------------------------------------- disk full, lock, corpus changes


def test_a_full_disk_is_a_clear_error_and_leaves_the_previous_index(corpus_copy, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    before = (index_dir / "manifest.json").read_text()
    (corpus_copy / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    real_save = index_module.np.save

    def save_until_full(path, array, **kwargs):
        real_save(path, array[: len(array) // 2], **kwargs)  # half the bytes reach the disk
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(index_module.np, "save", save_until_full)
    with pytest.raises(RagError, match="the disk is full while writing the index") as caught:
        build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    assert "previous index (if any) is unchanged" in str(caught.value) and "rag index" in str(caught.value)
    assert (index_dir / "manifest.json").read_text() == before
    assert load_index(index_dir).chunks
    assert leftovers(index_dir) == []  # no half-written files


@pytest.fixture
def small_disk(tmp_path):
    """A 700 kB tmpfs, where it can be mounted (root, or a container that allows it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the simulated ENOSPC test covers the code path")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk(small_disk, corpus_copy, tmp_path):
    files = sorted(corpus_copy.glob("*.txt"))
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(files[0], small / files[0].name)
    index_dir = small_disk / "index"
    build_index(small, index_dir, HashEmbedder(384), progress=False)
    before = (index_dir / "manifest.json").read_text()
    for path in files[1:]:  # the corpus grows: its index no longer fits beside the old one
        shutil.copy(path, small / path.name)
    with pytest.raises(RagError, match="the disk is full while writing the index"):
        build_index(small, index_dir, HashEmbedder(384), progress=False)
    assert (index_dir / "manifest.json").read_text() == before
    assert Engine.open(index_dir, HashEmbedder(384)).ask("招远2023年黄金产业总产值是多少？").citations is not None
    assert leftovers(index_dir) == []


def test_a_second_build_of_the_same_index_stops_with_a_message(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    with index_module._build_lock(index_dir):  # a build in progress (same effect as another process)
        with pytest.raises(IndexConflictError, match=rf"another `rag index` \(process {os.getpid()}\) is building"):
            build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False, rebuild=True)
        result = CliRunner().invoke(main, ["index", str(corpus_copy), "--index-dir", str(index_dir),
                                           "--embedder", "hash:64"])
        assert result.exit_code == 1 and "wait for it to finish" in result.output
    assert build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False).unchanged  # lock released


def test_two_rag_index_processes_at_once(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-c", KILLER, "slow", str(corpus_copy), str(index_dir)], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "embedding"  # the first build holds the lock now
    second = subprocess.run([sys.executable, "-m", "rag", "index", str(corpus_copy), "--index-dir", str(index_dir),
                             "--embedder", "hash:64"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert f"another `rag index` (process {first.pid}) is building {index_dir}" in second.stderr
    assert first.wait(timeout=120) == 0
    assert load_index(index_dir).manifest["counts"]["chunks"] > 0 and leftovers(index_dir) == []


def test_a_file_that_changes_while_it_is_indexed_is_read_again(corpus_copy, tmp_path, monkeypatch):
    target = corpus_copy / "new.txt"
    target.write_text(NEW_ARTICLE, encoding="utf-8")
    real_load = index_module.load_corpus
    calls = []

    def load_while_writing(path, **_):
        calls.append(path)
        loaded = real_load(path)
        if path == target and calls.count(target) == 1:
            target.write_text(NEW_ARTICLE.replace("1200个", "1500个"), encoding="utf-8")  # the writer was not done
        return loaded

    monkeypatch.setattr(index_module, "load_corpus", load_while_writing)
    build_index(corpus_copy, tmp_path / "index", HashEmbedder(64), progress=False)
    texts = [c.text for c in load_index(tmp_path / "index").chunks]
    assert any("1500个" in t for t in texts) and not any("1200个" in t for t in texts)
    assert index_status(tmp_path / "index", corpus_copy) == "fresh"


def test_a_file_that_disappears_while_it_is_indexed_is_left_out(corpus_copy, tmp_path, monkeypatch):
    target = corpus_copy / "new.txt"
    target.write_text(NEW_ARTICLE, encoding="utf-8")
    real_load = index_module.load_corpus

    def load_after_delete(path, **_):
        if path == target:
            target.unlink()
        return real_load(path)

    monkeypatch.setattr(index_module, "load_corpus", load_after_delete)
    report = build_index(corpus_copy, tmp_path / "index", HashEmbedder(64), progress=False)
    assert any("new.txt disappeared while it was being indexed" in w for w in report.warnings)
    assert "new.txt" not in load_index(tmp_path / "index").manifest["files"]
    assert index_status(tmp_path / "index", corpus_copy) == "fresh"


# ---------------------------------------------------------------------------- ownership


def test_an_index_of_another_corpus_is_replaced_only_with_rebuild(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    archive = tmp_path / "archive.jsonl"
    archive.write_text(json.dumps({"id": "a1", "title": "档案", "text": "本报讯 档案里的一篇文章，足够长的一段正文。"},
                                  ensure_ascii=False) + "\n", encoding="utf-8")
    build_index(archive, index_dir, HashEmbedder(64), progress=False)
    before = (index_dir / "manifest.json").read_text()
    with pytest.raises(IndexConflictError) as caught:
        build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    message = str(caught.value)
    assert str(archive) in message and str(corpus_copy) in message
    assert f"rag index {corpus_copy} --index-dir {index_dir} --rebuild" in message
    assert (index_dir / "manifest.json").read_text() == before
    result = CliRunner().invoke(main, ["index", "--index-dir", str(index_dir), "--embedder", "hash:64"])
    assert result.exit_code == 0 and "up to date" in result.output  # no path: the index's own corpus
    build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False, rebuild=True)
    assert index_module.index_source(index_dir) == corpus_copy.resolve()


def test_a_folder_that_is_not_an_index_is_never_replaced(corpus_copy, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes", encoding="utf-8")
    for rebuild in (False, True):
        with pytest.raises(IndexConflictError, match=r"holds files that are not part of an index \(notes.txt\)"):
            build_index(corpus_copy, folder, HashEmbedder(64), progress=False, rebuild=rebuild)
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "my notes"


def test_the_manifest_records_its_corpus_and_file_sizes(hash_index, corpus_dir):
    manifest = load_index(hash_index).manifest
    assert manifest["source"] == str(corpus_dir.resolve())
    assert set(manifest["sizes"]) >= {"articles.jsonl", "chunks.jsonl", "vectors.npy", "dense.faiss"}
    assert manifest["digest"] == index_module._digest(manifest)
