"""Corpus profiles: what the system knows about one press, as data in a folder.

A profile folder holds `profile.json` (administrative suffixes, generic places, organisation
endings, synonyms, the byline pattern, example questions and tuned weights, each with a
`why`), `places.txt` (the gazetteer: names separated by whitespace, `#` comments) and an
optional `userdict.txt` (a jieba user dictionary). Two ship in `rag/profiles/`:

- `shandong`: the bundled corpus's press (today's behaviour); `corpus/.rag-profile` names it;
- `national`: every province, prefecture and county-level division of China; the default for a
  corpus that names no profile.

Which one: the setting (`RAG_PROFILE`, `--profile`: a shipped name or a folder path), else the
corpus folder's `.rag-profile` file (one line: a name or a path), else `national`. The index
manifest records the profile it was built with, and loading the index makes it the active one.

    >>> load_profile("national").places[:1]  # doctest: +SKIP
    ('新疆维吾尔自治区',)

Simplified on purpose: one profile is active per process (the tokenizer and question parser
read it); a server serves one index.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.text import strip_admin_suffix

__all__ = ["DEFAULT_PROFILE", "MARKER_FILE", "Profile", "activate", "active", "corpus_profile", "load_profile",
           "place_stem", "resolve_profile"]

PROFILES_DIR = Path(__file__).parent / "profiles"  # package data
DEFAULT_PROFILE = "national"
MARKER_FILE = ".rag-profile"  # in a corpus folder: the profile that fits it


@dataclass(frozen=True, eq=False)
class Profile:
    name: str
    path: Path
    admin_suffixes: tuple[str, ...]
    places: tuple[str, ...]  # longest first
    generic_places: frozenset[str]
    org_endings: tuple[str, ...]
    synonyms: dict[str, tuple[str, ...]]
    byline: str  # a regular expression
    example_questions: tuple[str, ...]
    dense_weight: float
    id: str = field(default="")  # sha256 over the folder's files: changes whenever the profile does

    @property
    def userdict(self) -> Path | None:
        path = self.path / "userdict.txt"
        return path if path.exists() else None

    @functools.cached_property
    def names(self) -> frozenset[str]:
        """The words of its user dictionary: the place, company and programme names it knows."""
        path = self.userdict
        if path is None:
            return frozenset()
        lines = path.read_text(encoding="utf-8").splitlines()
        return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))

    def manifest(self) -> dict[str, str]:
        """How the index manifest records it: a shipped profile by name, another by its path."""
        shipped = self.path.resolve().parent == PROFILES_DIR.resolve()
        return {"name": self.name, "id": self.id, "path": "" if shipped else str(self.path.resolve())}


def _get(data: dict[str, Any], key: str, inner: str, path: Path) -> Any:
    try:
        value = data[key]
        return value[inner] if isinstance(value, dict) and inner in value else value
    except KeyError:
        raise InputError(f"{path}: profile.json has no {key!r}; see rag/profiles/national/profile.json") from None


COLLOQUIAL = Path(__file__).parent / "data" / "colloquial.json"  # package data


@functools.lru_cache(maxsize=1)
def colloquial_words() -> dict[str, tuple[str, ...]]:
    """Everyday words for what the press writes officially ("挣" -> 利润), for every profile; a
    profile's own synonyms win for the same word."""
    data = json.loads(COLLOQUIAL.read_text(encoding="utf-8"))
    return {word: tuple(alternatives) for word, alternatives in data["words"].items()}


@functools.lru_cache(maxsize=8)
def _load(folder: Path) -> Profile:
    meta = folder / "profile.json"
    if not meta.is_file():
        raise InputError(
            f"{folder} is not a profile folder (no profile.json): name one of "
            f"{', '.join(shipped_profiles())}, or a folder laid out like rag/profiles/national"
        )
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise InputError(f"{meta} could not be read as JSON ({exc})") from exc
    places_file = folder / "places.txt"
    names: list[str] = []
    if places_file.exists():
        for line in places_file.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                names += line.split()
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".json", ".txt")):
        digest.update(file.name.encode() + b"\x1f" + file.read_bytes())
    weights = data.get("weights", {})
    dense_weight = float(weights.get("dense_weight", 0.5))
    if not 0.0 <= dense_weight <= 1.0:
        raise InputError(f"{meta}: weights.dense_weight must be between 0 and 1, got {dense_weight}")
    suffixes = tuple(sorted(_get(data, "admin_suffixes", "suffixes", meta), key=len, reverse=True))
    return Profile(
        name=str(data.get("name") or folder.name),
        path=folder,
        admin_suffixes=suffixes,
        places=tuple(sorted(set(names), key=len, reverse=True)),
        generic_places=frozenset(_get(data, "generic_places", "names", meta)),
        org_endings=tuple(_get(data, "org_endings", "endings", meta)),
        synonyms={**colloquial_words(), **{k: tuple(v) for k, v in _get(data, "synonyms", "words", meta).items()}},
        byline=str(_get(data, "byline", "pattern", meta)),
        example_questions=tuple(_get(data, "example_questions", "questions", meta)),
        dense_weight=dense_weight,
        id=digest.hexdigest()[:12],
    )


def shipped_profiles() -> list[str]:
    return sorted(p.name for p in PROFILES_DIR.iterdir() if (p / "profile.json").is_file())


def load_profile(spec: str | Path) -> Profile:
    """A shipped profile by name ("national", "shandong") or a profile folder by path."""
    text = str(spec).strip()
    if not text:
        raise InputError(f"the profile is empty: name one of {', '.join(shipped_profiles())}, or a folder")
    folder = PROFILES_DIR / text if text in shipped_profiles() else Path(text).expanduser()
    if not folder.is_dir():
        raise InputError(f"no profile {text!r}: name one of {', '.join(shipped_profiles())}, or a profile folder")
    return _load(folder.resolve())


def corpus_profile(corpus: str | Path) -> str | None:
    """The profile a corpus folder names in its `.rag-profile` file (a relative path is taken
    from the corpus folder), or None."""
    folder = Path(corpus)
    marker = folder / MARKER_FILE if folder.is_dir() else folder.parent / MARKER_FILE
    if not marker.is_file():
        return None
    spec = marker.read_text(encoding="utf-8").strip()
    if spec and spec not in shipped_profiles() and not Path(spec).is_absolute():
        spec = str(marker.parent / spec)
    return spec or None


def resolve_profile(setting: str | Path | None, corpus: str | Path | None = None) -> Profile:
    """The setting, else what the corpus names, else DEFAULT_PROFILE."""
    spec = setting or (corpus_profile(corpus) if corpus is not None else None) or DEFAULT_PROFILE
    return load_profile(spec)


def from_manifest(recorded: dict[str, str] | None) -> Profile:
    """The profile an index manifest records (an index from before profiles: shandong)."""
    if not recorded:
        return load_profile("shandong")
    return load_profile(recorded.get("path") or recorded["name"])


_active: Profile | None = None


def active() -> Profile:
    """The profile in force: the last one activated, else DEFAULT_PROFILE."""
    global _active
    if _active is None:
        _active = load_profile(DEFAULT_PROFILE)
    return _active


def activate(profile: Profile) -> None:
    """Make `profile` the one the tokenizer and question parser use (index build and load do)."""
    global _active
    _active = profile


def place_stem(name: str) -> str:
    """A place name without its administrative suffix, by the active profile's suffixes."""
    return strip_admin_suffix(name, active().admin_suffixes)
