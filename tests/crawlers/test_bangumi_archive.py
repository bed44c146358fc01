"""The Bangumi Archive importer on a hand-made dump: items, links, counted bad lines, re-imports, the CLI."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from acg2vec.crawlers.bangumi_archive import ArchiveImportConfig, ShardWriter, import_archive
from acg2vec.crawlers.items import Work, item_from_dict
from acg2vec.errors import UserError
from acg2vec.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "bangumi" / "archive"


def make_zip(tmp_path: Path, *, folder: str = "") -> Path:
    path = tmp_path / "dump.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member in sorted(FIXTURES.iterdir()):
            zf.write(member, folder + member.name)
    return path


def table_row(output: str, label: str, what: str) -> str | None:
    """The count in the row ``label | what | n`` of the crawl report table the CLI prints."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[:2] == [label, what]:
            return cells[2]
    return None


def read_kind(raw: Path, kind: str) -> list[dict]:
    rows = []
    for path in sorted(raw.glob(f"{kind}-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


@pytest.mark.unit
def test_import_writes_linked_items_and_counts_every_line(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    report = import_archive(make_zip(tmp_path), workspace=ws)
    raw = Path(ws.raw("bangumi"))
    works, characters, persons = (read_kind(raw, k) for k in ("work", "character", "person"))

    assert [(w["source_id"], w["character_ids"]) for w in works] == [("101", ["301", "302"]), ("105", [])]
    first = works[0]
    assert first["titles"] == {"ja": "星の旅人", "zh-Hans": "星之旅人", "en": "The Star Traveller"}
    assert first["aliases"] == ["Star Traveller"] and first["tags"] == ["原创"] and first["air_date"] == "2020-04-03"
    assert first["url"] == "https://bgm.tv/subject/101"
    assert [(c["source_id"], c["work_ids"], c["voice_actor_ids"]) for c in characters] == [
        ("301", ["101"], ["501"]),
        ("302", ["101"], []),
    ]
    assert characters[0]["names"] == {"ja": "ミナ", "zh-Hans": "米娜", "ja-Latn": "Mina"}
    assert [(p["source_id"], p["character_ids"], p["names"].get("ja-Kana")) for p in persons] == [
        ("501", ["301"], "やまだ はなこ")
    ]
    for row in works + characters + persons:
        item_from_dict(row)  # every line fits the item contract

    assert report.written == {"work": 2, "character": 2, "person": 1}
    assert report.dropped == {"bad-subject": 1}
    assert report.skipped == {"other-subject-type": 1, "not-in-imported-subjects": 2}
    assert report.bad_input == {"bad-json": 1, "bad-link": 1}
    # Entity lines: 5 subject lines with text, 3 characters, 2 persons = written + dropped + skipped + bad JSON.
    assert report.items_read + 1 == 5 + 3 + 2

    with gzip.open(raw / "dead_letters" / "bangumi-archive.jsonl.gz", "rt", encoding="utf-8") as fh:
        letters = [json.loads(line) for line in fh]
    assert sorted(d["reason"] for d in letters) == ["bad-json", "bad-link", "bad-subject"]
    assert {d["record"]["url"] for d in letters if d["reason"] == "bad-json"} == {"subject.jsonlines:4"}
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["items"] == {"character": 2, "person": 1, "work": 2}
    assert manifest["runs"][0]["spider"] == "bangumi-archive"
    assert {d["step"] for d in letters} == {"bangumi-archive"}
    assert manifest["runs"][0]["dead_lettered"] == {
        "bangumi-archive-bad-json": 1,
        "bangumi-archive-bad-link": 1,
        "bangumi-archive-bad-subject": 1,
    }


@pytest.mark.unit
def test_reimport_skips_what_is_already_there_and_all_types_option(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    dump = make_zip(tmp_path, folder="archive/")  # members inside a folder are found too
    import_archive(dump, workspace=ws)
    again = import_archive(dump, workspace=ws, config=ArchiveImportConfig(subject_types=()))
    # Every type now: subject 102 (a book) and its character 399 are new; the rest is already there.
    assert again.written == {"work": 1, "character": 1}
    assert again.skipped == {"already-have": 5, "not-in-imported-subjects": 1}  # person 502 voices no one
    raw = Path(ws.raw("bangumi"))
    character_399 = [c for c in read_kind(raw, "character") if c["source_id"] == "399"]
    assert character_399[0]["voice_actor_ids"] == ["501"]


@pytest.mark.unit
def test_limit_caps_the_subjects(tmp_path: Path) -> None:
    report = import_archive(
        make_zip(tmp_path), workspace=Workspace.at(tmp_path / "ws"), config=ArchiveImportConfig(limit=1)
    )
    assert report.written == {"work": 1, "character": 2, "person": 1}
    assert report.skipped["past-limit"] == 3


@pytest.mark.unit
def test_user_mistakes_are_one_sentence(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(UserError, match="does not exist"):
        import_archive(tmp_path / "missing.zip", workspace=ws)
    not_zip = tmp_path / "dump.zip"
    not_zip.write_text("hello")
    with pytest.raises(UserError, match="not a zip"):
        import_archive(not_zip, workspace=ws)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(UserError, match="no subject.jsonlines"):
        import_archive(empty, workspace=ws)


@pytest.mark.unit
def test_shard_writer_starts_a_new_batch_every_n_items(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, "work", run_id="r1", batch_items=2)
    for i in range(5):
        writer.write(Work(source="bangumi", source_id=str(i), titles={"ja": f"t{i}"}))
    writer.close()
    shards = sorted(p.name for p in tmp_path.glob("*.jsonl.gz"))
    assert shards == ["work-r1-00001.jsonl.gz", "work-r1-00002.jsonl.gz", "work-r1-00003.jsonl.gz"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary shard left
    with gzip.open(tmp_path / shards[-1], "rt", encoding="utf-8") as fh:
        assert [json.loads(line)["source_id"] for line in fh] == ["4"]
    # Each shard is recorded as it is closed: lines, size, sha256 and the ids file.
    records = json.loads((tmp_path / "manifest.json").read_text())["shards"]
    assert sorted(records) == shards and [records[s]["lines"] for s in shards] == [2, 2, 1]
    with gzip.open(tmp_path / records[shards[0]]["ids"], "rt") as fh:
        assert fh.read() == "0\n1\n"


@pytest.mark.integration
def test_cli_imports_the_archive_and_prints_the_counts(tmp_path: Path, workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    result = CliRunner().invoke(app, ["--quiet", "crawl", "bangumi", "--archive", str(make_zip(tmp_path))])
    assert result.exit_code == 0, result.output
    assert table_row(result.output, "written", "work") == "2" and table_row(result.output, "written", "person") == "1"
    assert table_row(result.output, "bad input", "bad-json") == "1"
    assert table_row(result.output, "dropped", "bad-subject") == "1"
    assert list((workdir / "raw" / "bangumi").glob("work-*.jsonl.gz"))


def make_real_shaped_zip(tmp_path: Path) -> Path:
    """Archive lines in the dump's real shape (wiki-text infobox, \r\n, no ``date`` field, Japanese blurbs)."""
    subjects = [
        {"id": 9912, "type": 2, "name": "けいおん!", "name_cn": "轻音少女",
         "infobox": "{{Infobox animanga/TVAnime\r\n|中文名= 轻音少女\r\n|话数= 12\r\n|放送开始= 2009年4月2日\r\n}}",
         "platform": 1, "summary": "桜が丘高校に入学した平沢唯は、廃部寸前の軽音部に入部することに。",
         "nsfw": False, "tags": [{"name": "京都动画", "count": 5000}], "score": 7.9, "rank": 300},
        {"id": 37785, "type": 2, "name": "映画 けいおん!", "name_cn": "轻音少女 剧场版",
         "infobox": "{{Infobox animanga/Movie\r\n|中文名= 轻音少女 剧场版\r\n|上映年度= 2011年12月3日\r\n}}",
         "platform": 2, "summary": "毕业旅行去伦敦的轻音部五人的故事。", "nsfw": False, "tags": []},
    ]  # fmt: skip
    path = tmp_path / "real.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("subject.jsonlines", "\n".join(json.dumps(s, ensure_ascii=False) for s in subjects) + "\n")
        zf.writestr("subject-characters.jsonlines", '{"character_id": 1, "subject_id": 9912, "type": 1, "order": 0}\n')
        zf.writestr("character.jsonlines", '{"id": 1, "role": 1, "name": "平沢唯", "infobox": "", "summary": ""}\n')
        zf.writestr(
            "person.jsonlines", '{"id": 2, "name": "豊崎愛生", "type": 1, "career": ["seiyu"], "infobox": ""}\n'
        )
        zf.writestr("person-characters.jsonlines", '{"person_id": 2, "subject_id": 9912, "character_id": 1}\n')
    return path


@pytest.mark.unit
def test_real_shaped_lines_get_their_summary_language_and_infobox_dates(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    report = import_archive(make_real_shaped_zip(tmp_path), workspace=ws)
    works = {w["source_id"]: w for w in read_kind(Path(ws.raw("bangumi")), "work")}
    assert works["9912"]["summaries"] == {"ja": "桜が丘高校に入学した平沢唯は、廃部寸前の軽音部に入部することに。"}
    assert works["9912"]["air_date"] == "2009-04-02" and works["9912"]["character_ids"] == ["1"]
    assert works["37785"]["summaries"] == {"zh-Hans": "毕业旅行去伦敦的轻音部五人的故事。"}
    assert works["37785"]["air_date"] == "2011-12-03"
    assert report.written == {"work": 2, "character": 1, "person": 1}


@pytest.mark.unit
def test_without_characters_only_works_are_imported_and_the_rest_is_counted(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    config = ArchiveImportConfig(characters=False)
    report = import_archive(make_real_shaped_zip(tmp_path), workspace=ws, config=config)
    raw = Path(ws.raw("bangumi"))
    assert [w["character_ids"] for w in read_kind(raw, "work")] == [[], []]
    assert read_kind(raw, "character") == [] and read_kind(raw, "person") == []
    assert report.written == {"work": 2}
    # One line in each of the four files not read.
    assert report.skipped == {"characters-not-requested": 4}


@pytest.mark.unit
def test_cli_honours_no_characters_with_archive(tmp_path: Path, workdir: Path) -> None:
    from typer.testing import CliRunner

    from acg2vec.cli import app

    args = ["--quiet", "crawl", "bangumi", "--archive", str(make_real_shaped_zip(tmp_path)), "--no-characters"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert table_row(result.output, "written", "work") == "2"
    assert table_row(result.output, "written", "character") is None
    assert table_row(result.output, "skipped", "characters-not-requested") == "4"
    assert not list((workdir / "raw" / "bangumi").glob("character-*.jsonl.gz"))
