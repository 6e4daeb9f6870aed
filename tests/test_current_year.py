from rag.current_year import latest_year, page_years
from rag.types import Article


def article(id_, source, text, date=None, page=None):
    return Article(id_, f"标题{id_}", date, source, [text], page=page)


def test_the_latest_year_named_as_past_or_present():
    assert latest_year("2023年，实施项目31个。2024年上半年，完成投资1.8亿元。") == 2024
    assert latest_year("年产值2000亿元，总投资2000万元。") is None


def test_a_target_year_says_nothing_about_when_the_page_was_written():
    assert latest_year("2023年增长7%，到2025年突破1000亿元，力争2027年底前建成。") == 2023
    assert latest_year("《三年行动方案（2023—2025）》") == 2023
    assert latest_year("确保2026年前投产") is None


def test_the_pieces_of_a_page_share_the_year_a_piece_beside_them_names():
    pieces = [article("a", "p.txt", "今年1月至6月，高新技术产业产值占比约55.39%。"),
              article("b", "p.txt", "2024年1月至6月，完成地区生产总值817.56亿元。"),
              article("c", "q.txt", "2022年，全市新增企业100家。")]
    assert page_years(pieces) == {"a": 2024, "b": 2024, "c": 2022}


def test_a_dated_piece_gives_the_page_its_year():
    pieces = [article("a", "p.txt", "今天下午，省政府召开交流会。", date="2024-02-21"),
              article("b", "p.txt", "去年新落地过百亿元项目7个，到2025年再翻一番。")]
    assert page_years(pieces) == {"b": 2024}  # a dated article keeps its own date


def test_records_of_a_feed_do_not_share_a_year():
    records = [article("a", "feed.jsonl", "今年以来，全市新开工项目42个。"),
               article("b", "feed.jsonl", "2024年，全市新增企业100家。")]
    assert page_years(records) == {"b": 2024}


def test_pages_of_one_file_are_told_apart_by_their_printed_page():
    pieces = [article("a", "p.txt", "今年以来，全市新开工项目42个。", page="1"),
              article("b", "p.txt", "2024年，全市新增企业100家。", page="2")]
    assert page_years(pieces) == {"b": 2024}


def test_records_of_a_feed_that_name_one_source_do_not_share_a_year():
    # a .jsonl record may carry its own source ("新华社"): it is still its own page
    records = [article("a", "新华社", "今年以来，全市新开工项目42个。"),
               article("b", "新华社", "2024年，全市新增企业100家。")]
    assert page_years(records, {"a": "feed.jsonl", "b": "feed.jsonl"}) == {"b": 2024}
    assert page_years(records) == {"a": 2024, "b": 2024}  # without the files, one source is one page
