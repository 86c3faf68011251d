"""The actorstore CLI, run in-process through main() and once as a real command."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import actorstore
from actorstore import storage
from actorstore.cli import _parser, main
from actorstore.retry import RetriesExhaustedError, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    path = str(tmp_path / "store")
    with actorstore.open_store(path) as store:
        store.create_table("users")
        store.create_table("nums", key_format="int", value_format="str")
        store.upsert("users", "ada", {"age": 36}).get(timeout=5)
        store.upsert("nums", 7, "seven").get(timeout=5)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_lists_tables_and_dead_letters(store_path: str, capsys) -> None:
    code, out, _ = run(capsys, "info", store_path)
    assert code == 0
    assert "users: 1 records, key str, value json, durability sync" in out
    assert "nums: 1 records, key int, value str" in out
    assert re.search(r"file [\d,]+ bytes \([\d,]+ used\), map [\d,]+ bytes", out)
    assert "dead letters: 0" in out


def test_info_json(store_path: str, capsys) -> None:
    code, out, _ = run(capsys, "info", store_path, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["tables"]["users"]["records"] == 1
    users = report["tables"]["users"]
    assert 0 < users["used_size"] <= users["file_size"]
    assert report["dead_letters"] == 0
    assert "__dead_letters__" not in report["tables"]


def test_put_then_get_parse_per_format(store_path: str, capsys) -> None:
    assert run(capsys, "put", store_path, "users", "bob", '{"age": 5}')[0] == 0
    assert run(capsys, "put", store_path, "nums", "-3", "minus three")[0] == 0
    assert run(capsys, "get", store_path, "users", "bob")[1].strip() == '{"age": 5}'
    assert run(capsys, "get", store_path, "nums", "-3")[1].strip() == "minus three"


def test_get_missing_key_is_a_store_error(store_path: str, capsys) -> None:
    code, out, err = run(capsys, "get", store_path, "users", "nobody")
    assert code == 1
    assert out == ""
    assert err.startswith("actorstore: error: table 'users': key 'nobody' not found")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("put", "{store}", "users", "x", "{bad"), "not valid JSON"),
        (("get", "{store}", "nums", "seven"), "has int keys"),
        (("info", "{missing}"), "no store at"),
        (("scan", "{store}", "users", "--limit", "-1"), "--limit must be >= 0"),
        (
            ("dead-letters", "{store}", "replay", "--id", "42"),
            "no dead letter with id 42",
        ),
        (("compact", "{store}", "--timeout", "0"), "--timeout must be > 0"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    store_path: str, tmp_path: Path, capsys, argv: tuple[str, ...], message: str
) -> None:
    places = {"{store}": store_path, "{missing}": str(tmp_path / "nope")}
    filled = [places.get(a, a) for a in argv]
    code, _, err = run(capsys, *filled)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_table_is_a_store_error(store_path: str, capsys) -> None:
    code, _, err = run(capsys, "get", store_path, "ghosts", "x")
    assert code == 1
    assert "table 'ghosts' does not exist" in err


def test_scan_prefix_limit_and_json(store_path: str, capsys) -> None:
    for key in ("ann", "anna", "bo"):
        run(capsys, "put", store_path, "users", key, "1")
    code, out, _ = run(capsys, "scan", store_path, "users", "--prefix", "an", "--json")
    assert code == 0
    assert [json.loads(line)["key"] for line in out.splitlines()] == ["ann", "anna"]
    code, out, _ = run(capsys, "scan", store_path, "users", "--limit", "2")
    assert out.splitlines() == ['ada\t{"age": 36}', "ann\t1"]


def test_load_reports_bad_lines_and_keeps_them_to_fix_and_load_again(
    store_path: str, tmp_path: Path, capsys
) -> None:
    """A line that cannot be loaded is no dead letter that replay must refuse
    (issue 24, item 6): it is reported, and kept with --rejects as it was."""
    source, rejects = tmp_path / "people.jsonl", tmp_path / "rejects.jsonl"
    lines = [json.dumps({"id": f"p{i}", "n": i}) for i in range(500)]
    bad = ["not json", '{"no_id": 1}', '{"id": ["a", "list"], "n": 3}']
    source.write_text("\n".join([*lines, *bad]) + "\n")
    code, out, err = run(
        capsys,
        "load",
        store_path,
        "people",
        str(source),
        "--window",
        "16",
        "--rejects",
        str(rejects),
    )
    assert code == 1
    assert "loaded 500 records into 'people'; 3 failed" in out
    assert "line 501: not valid JSON" in err
    assert "line 502: not a JSON object with a 'id' field" in err
    assert "line 503: table 'people': invalid key ['a', 'list']" in err
    assert f"3 lines could not be loaded (see above); they are in {rejects}" in err
    assert rejects.read_text().splitlines() == bad
    with actorstore.open_store(store_path) as store:
        assert store.count("people").get(timeout=5) == 500
        assert store.search("people", "p499").get(timeout=5) == {"id": "p499", "n": 499}
        assert store.dead_letters.list() == []
    code, out, err = run(capsys, "dead-letters", store_path, "replay")
    assert (code, out) == (0, "")  # nothing load wrote is refused by replay
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text('{"id": "p500"}\n{"id": "p501"}\n{"id": "p502", "n": 3}\n')
    code, out, _ = run(capsys, "load", store_path, "people", str(fixed))
    assert (code, "loaded 3 records into 'people'; 0 failed" in out) == (0, True)


def test_a_write_load_could_not_make_is_a_dead_letter_replay_runs_again(
    store_path: str, capsys
) -> None:
    """A write that failed for good (a full table, say) is parked with its
    bytes, so `dead-letters replay` writes it once the cause is gone."""
    from actorstore.cli import _park_failed_write
    from actorstore.storage._table_codecs import TableCodecs

    with actorstore.open_store(store_path) as store:
        store.create_table("people")
        full = storage.StoreFullError(table="people", max_map_size=1 << 20)
        info = store.table_info("people")
        codecs = TableCodecs(
            info.name, info.key_format, info.value_format, info.key_encoding
        )
        _park_failed_write(store, codecs, "p1", {"id": "p1", "n": 1}, full)
        (letter,) = store.dead_letters.list()
        assert (letter.key, letter.value, letter.replayable) == (
            "p1",
            {"id": "p1", "n": 1},
            True,
        )
    code, out, _ = run(capsys, "dead-letters", store_path, "replay")
    assert (code, out) == (0, f"{letter.id}\treplayed\n")
    assert run(capsys, "get", store_path, "people", "p1")[1].strip() == (
        '{"id": "p1", "n": 1}'
    )


def test_load_reads_standard_input_given_as_dash(store_path: str) -> None:
    lines = "".join(json.dumps({"id": f"s{i}", "n": i}) + "\n" for i in range(20))
    result = subprocess.run(
        [sys.executable, "-m", "actorstore", "load", store_path, "piped", "-"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded 20 records into 'piped'; 0 failed" in result.stdout
    with actorstore.open_store(store_path) as store:
        assert store.search("piped", "s19").get(timeout=5) == {"id": "s19", "n": 19}


def test_numeric_keys_loaded_into_a_str_table_are_text_and_said_so(
    store_path: str, tmp_path: Path, capsys
) -> None:
    source = tmp_path / "nums.jsonl"
    source.write_text('{"id": 5}\n{"id": 6.5}\n{"id": "seven"}\n{"id": true}\n')
    code, out, err = run(capsys, "load", store_path, "users", str(source))
    assert code == 1  # the bool key is refused
    assert "loaded 3 records into 'users'; 1 failed" in out
    assert (
        "note: line 1: the key 5 is a number and table 'users' has str keys: it "
        "is stored as the text '5'"
    ) in err
    assert err.count("note:") == 1
    assert "2 numeric keys stored as text" in err
    assert "line 4: its key 'id' is true, and table 'users' has str keys" in err
    assert run(capsys, "get", store_path, "users", "6.5")[1].strip() == '{"id": 6.5}'


def test_scan_keeps_one_record_per_line_escaping_tabs_and_newlines(
    tmp_path: Path, capsys
) -> None:
    path = str(tmp_path / "texts")
    with actorstore.open_store(path) as store:
        store.create_table("t", key_format="str", value_format="str")
        store.create_table("j", key_format="str", value_format="json")
        store.upsert("t", "a\tkey", "line 1\nline 2\r\tend \\ back").get(5)
        store.upsert("t", "b", "plain").get(5)
        store.upsert("j", "k\n", {"text": "x\ty\nz \\"}).get(5)
    code, out, _ = run(capsys, "scan", path, "t")
    assert code == 0
    assert out.splitlines() == [
        "a\\tkey\tline 1\\nline 2\\r\\tend \\\\ back",
        "b\tplain",
    ]
    _, value = out.splitlines()[0].split("\t")
    unescape = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\"}
    assert re.sub(r"\\[tnr\\]", lambda m: unescape[m[0]], value) == (
        "line 1\nline 2\r\tend \\ back"
    )
    code, out, _ = run(capsys, "scan", path, "j")  # JSON text is one line as is
    assert out.splitlines() == ['k\\n\t{"text": "x\\ty\\nz \\\\"}']
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    assert "printf '%b'" in " ".join(capsys.readouterr().out.split())


def test_check_prints_the_remedy_it_refers_to(store_path: str, capsys) -> None:
    data = Path(store_path) / "tables" / "users" / "data.mdb"
    with actorstore.open_store(store_path) as store:
        store.batch("users", [("upsert", f"k{i}", "x" * 500) for i in range(200)]).get(
            5
        )
    data.write_bytes(data.read_bytes()[: 5 * 4096])  # what a lost write leaves
    code, out, err = run(capsys, "check", store_path, "users")
    assert code == 1
    assert "users: DAMAGED: " in out
    assert (
        f"  remedy: restore its directory {Path(store_path) / 'tables' / 'users'} "
        "from a backup, or, if its data is disposable, remove that directory"
    ) in out
    assert "1 table damaged; the remedy is above" in err


def test_hints_name_cli_commands_and_say_each_thing_once(
    store_path: str, capsys
) -> None:
    code, _, err = run(capsys, "dead-letters", store_path, "replay", "--id", "42")
    assert err.strip() == (
        "actorstore: error: no dead letter with id 42; list them with: "
        f"actorstore dead-letters {store_path} list"
    )
    code, _, err = run(capsys, "get", store_path, "users", "nobody")
    assert code == 1
    assert err.strip() == (
        "actorstore: error: table 'users': key 'nobody' not found; list the keys "
        f"with: actorstore scan {store_path} users"
    )
    code, _, err = run(capsys, "scan", store_path, "nums", "--prefix", "7")
    assert code == 2
    assert "scan with --start and --end instead" in err
    for text in (err,):
        assert "()" not in text and "store." not in text


def test_load_a_clean_file_exits_0(store_path: str, tmp_path: Path, capsys) -> None:
    source = tmp_path / "ok.jsonl"
    source.write_text("".join(json.dumps({"id": i}) + "\n" for i in range(50)))
    code, out, _ = run(capsys, "load", store_path, "ok", str(source), "--key", "id")
    assert code == 0
    assert "loaded 50 records into 'ok'; 0 failed" in out


def test_compact_prints_bytes_per_table(store_path: str, capsys) -> None:
    code, out, _ = run(capsys, "compact", store_path, "users")
    assert code == 0
    assert out.startswith("users: ") and out.strip().endswith("bytes reclaimed")


def test_the_console_command_runs_as_a_module(store_path: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "actorstore", "get", store_path, "users", "ada"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"age": 36}'


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_put_parses_int_values_by_the_value_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "ints")
    with actorstore.open_store(path) as store:
        store.create_table("counts", key_format="str", value_format="int")
    assert run(capsys, "put", path, "counts", "a", "42")[0] == 0
    assert run(capsys, "get", path, "counts", "a")[1].strip() == "42"
    code, _, err = run(capsys, "put", path, "counts", "a", "many")
    assert code == 2
    assert "has int values; 'many' is not one" in err


# -- the newcomer's CLI ----------------------------------------------------------


def test_scan_start_end_and_reverse(store_path: str, capsys) -> None:
    for key in ("b", "c", "d", "e"):
        run(capsys, "put", store_path, "users", key, "1")
    code, out, _ = run(
        capsys, "scan", store_path, "users", "--start", "b", "--end", "e"
    )
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["b", "c", "d"]
    code, out, _ = run(capsys, "scan", store_path, "users", "--reverse", "--limit", "2")
    assert [line.split("\t")[0] for line in out.splitlines()] == ["e", "d"]


def test_scan_streams_a_table_larger_than_a_page(tmp_path: Path, capsys) -> None:
    path = str(tmp_path / "big")
    with actorstore.open_store(path) as store:
        store.create_table("t", key_format="int", value_format="json")
        store.batch("t", [("upsert", i, {"i": i}) for i in range(2500)]).get(5)
    code, out, _ = run(capsys, "scan", path, "t")
    assert code == 0
    keys = [int(line.split("\t")[0]) for line in out.splitlines()]
    assert keys == list(range(2500))


def test_an_unknown_table_names_the_command_that_creates_it(
    store_path: str, capsys
) -> None:
    code, _, err = run(capsys, "put", store_path, "ghosts", "x", "1")
    assert code == 1
    assert f"create it with: actorstore create {store_path} ghosts" in err
    assert "create_table()" not in err
    assert run(capsys, "create", store_path, "ghosts")[0] == 0
    assert run(capsys, "put", store_path, "ghosts", "x", "1")[0] == 0


def test_create_takes_formats_and_durability(store_path: str, capsys) -> None:
    code, out, _ = run(
        capsys,
        "create",
        store_path,
        "counters",
        "--key-format",
        "int",
        "--value-format",
        "int",
        "--durability",
        "none",
    )
    assert code == 0
    assert out.strip() == "table 'counters': key int, value int, durability none"
    assert run(capsys, "put", store_path, "counters", "3", "9")[0] == 0


@pytest.mark.parametrize("name", ["../escape", "a/b", "_hidden"])
def test_a_bad_table_name_is_a_usage_error(store_path: str, capsys, name: str) -> None:
    code, _, err = run(capsys, "get", store_path, name, "k")
    assert code == 2
    assert "invalid table name" in err
    assert len(err.strip().splitlines()) == 1


def make_letters(path: str, count: int) -> list[int]:
    """Dead-letter `count` upserts on table `letters`; return the letters' ids.

    Each upsert's callback raises a transient error with a tab in its
    message, and its policy allows one attempt: it is dead-lettered.
    """

    def busy(n: int) -> Callable[[BaseException | None, object], object]:
        def callback(error: BaseException | None, result: object) -> object:
            if error is None:
                raise storage.StoreBusyError(f"busy {n}\twith a tab")
            return None

        return callback

    with actorstore.open_store(path) as store:
        store.create_table("letters", exist_ok=True)
        once = RetryPolicy(max_attempts=1)
        for i in range(count):
            future = store.upsert(
                "letters", f"k{i}", {"n": i}, callback=busy(i), retry=once
            )
            assert isinstance(future.exception(5), RetriesExhaustedError)
        return [letter.id for letter in store.dead_letters.list()]


def test_dead_letters_list_lines_parse_with_cut(store_path: str, capsys) -> None:
    ids = make_letters(store_path, 3)
    code, out, _ = run(capsys, "dead-letters", store_path, "list")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [int(row[0]) for row in rows] == ids
    assert all(len(row) == 7 for row in rows)
    assert rows[0][1:6] == ["upsert", "letters", '"k0"', "1", "StoreBusyError"]
    assert rows[0][6] == "busy 0 with a tab"


def test_dead_letters_replay_takes_several_ids_after_one_flag(
    store_path: str, capsys
) -> None:
    ids = make_letters(store_path, 3)
    code, out, _ = run(
        capsys, "dead-letters", store_path, "replay", "--id", str(ids[0]), str(ids[2])
    )
    assert code == 0
    assert out.splitlines() == [f"{ids[0]}\treplayed", f"{ids[2]}\treplayed"]
    code, out, _ = run(capsys, "dead-letters", store_path, "purge")
    assert out.strip() == "purged 1 dead letter"


def test_piping_into_head_ends_quietly(tmp_path: Path) -> None:
    path = str(tmp_path / "big")
    with actorstore.open_store(path) as store:
        store.create_table("t", key_format="int", value_format="json")
        store.batch("t", [("upsert", i, {"i": "x" * 100}) for i in range(20_000)]).get(
            10
        )
    result = subprocess.run(
        f"{sys.executable} -m actorstore scan {path} t | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        executable="/bin/bash",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.startswith("0\t")
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr
    pipe = subprocess.run(
        f"set -o pipefail; {sys.executable} -m actorstore scan {path} t | head -n 1 "
        "> /dev/null",
        shell=True,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        executable="/bin/bash",
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert pipe.returncode == 0


def test_every_argument_has_help() -> None:
    parser = _parser()
    (commands,) = [
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.dest} has no help"


def test_check_reports_each_table(store_path: str, capsys) -> None:
    code, out, _ = run(capsys, "check", store_path)
    assert code == 0
    assert "users: ok, 1 record" in out
    assert "nums: ok, 1 record" in out
    code, out, _ = run(capsys, "check", store_path, "users")
    assert out.strip() == "users: ok, 1 record"


def test_compact_of_a_table_another_process_has_open_is_one_line_and_exit_1(
    store_path: str,
) -> None:
    with actorstore.open_store(store_path) as holder:  # this process holds the tables
        holder.count("users").get(timeout=5)
        result = subprocess.run(
            [sys.executable, "-m", "actorstore", "compact", store_path, "users"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert result.returncode == 1, result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert "is open in another process" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- backup, stats, dead-letter triage ------------------------------------------


def test_backup_copies_the_store_with_a_progress_line(
    store_path: str, tmp_path: Path, capsys
) -> None:
    make_letters(store_path, 2)
    copy = str(tmp_path / "copy")
    code, out, err = run(capsys, "backup", store_path, copy)
    assert code == 0
    assert re.fullmatch(
        r"backed up 4 tables \(4 records, [\d,]+ bytes\) to \S+/copy in [\d.]+ s\n",
        out,
    )
    assert err.splitlines()[-1] == "backup: 4/4 tables copied (users)"
    assert len(err.splitlines()) == 4
    code, out, _ = run(capsys, "check", copy)
    assert code == 0 and "users: ok, 1 record" in out
    assert run(capsys, "get", copy, "users", "ada")[1].strip() == '{"age": 36}'
    code, out, _ = run(capsys, "dead-letters", copy, "list")
    assert len(out.splitlines()) == 2
    assert (
        run(capsys, "backup", store_path, str(tmp_path / "plain"), "--no-compact")[0]
        == 0
    )


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("{exists}", "already exists"),
        ("{store}/inside", "is inside the store"),
        ("{file}/copy", "is not a writable directory"),
    ],
)
def test_backup_refuses_a_bad_destination_in_one_line(
    store_path: str, tmp_path: Path, capsys, dest: str, message: str
) -> None:
    (tmp_path / "exists").mkdir()
    (tmp_path / "file").write_text("")
    places = {
        "{exists}": str(tmp_path / "exists"),
        "{store}": store_path,
        "{file}": str(tmp_path / "file"),
    }
    for name, place in places.items():
        dest = dest.replace(name, place)
    code, out, err = run(capsys, "backup", store_path, dest)
    assert code == 2
    assert out == ""
    assert message in err and len(err.splitlines()) == 1
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def test_stats_prints_a_row_per_table_and_json(store_path: str, capsys) -> None:
    make_letters(store_path, 2)
    code, out, _ = run(capsys, "stats", store_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "table", "records", "bytes", "used", "bytes", "mapped", "last", "sync",
        "dead", "letters",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {"letters", "nums", "users"}
    assert rows["letters"][1] == "0" and rows["letters"][-1] == "2"
    assert rows["users"][1] == "1" and rows["users"][-1] == "0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows["users"][4])  # last sync's date
    assert lines[-1] == "dead letters: 2"
    code, out, _ = run(capsys, "stats", store_path, "--json")
    report = json.loads(out)
    users = report["tables"]["users"]
    assert users["records"] == 1 and users["dead_letters"] == 0
    assert 0 < users["used_size"] <= users["map_size"]
    assert users["last_sync"] == pytest.approx(
        os.path.getmtime(os.path.join(store_path, "tables", "users", "data.mdb"))
    )
    assert report["tables"]["letters"]["dead_letters"] == 2
    assert report["dead_letters"] == 2
    assert not any(name.startswith("_") for name in report["tables"])


def test_dead_letters_filters_summary_and_rate(store_path: str, capsys) -> None:
    ids = make_letters(store_path, 3)
    code, out, _ = run(
        capsys, "dead-letters", store_path, "list", "--table", "letters",
        "--op", "upsert", "--error", "StoreBusyError", "--since", "1h",
    )  # fmt: skip
    assert code == 0 and [int(line.split("\t")[0]) for line in out.splitlines()] == ids
    for argv in (
        ("--table", "users"),
        ("--op", "insert"),
        ("--error", "KeyExistsError"),
        ("--until", "2001-01-01"),
        ("--since", "2999-01-01T00:00:00+00:00"),
    ):
        code, out, err = run(capsys, "dead-letters", store_path, "list", *argv)
        assert (code, out, err) == (0, "", "no dead letters\n"), argv
    code, out, _ = run(capsys, "dead-letters", store_path, "summary")
    assert code == 0
    assert out.startswith("3 dead letters, last failed from ")
    assert "  by table:  letters 3" in out
    assert "  by error:  StoreBusyError 3" in out
    code, out, _ = run(capsys, "dead-letters", store_path, "summary", "--json")
    assert json.loads(out)["by_op"] == {"upsert": 3}
    code, out, err = run(
        capsys, "dead-letters", store_path, "replay", "--table", "letters",
        "--rate", "50",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines() == [f"{i}\treplayed" for i in ids]
    assert err.strip() == "3 replayed, 0 failed again, 0 already applied"
    code, out, _ = run(capsys, "dead-letters", store_path, "summary")
    assert out.strip() == "no dead letters"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("list", "--since", "yesterday"), "--since 'yesterday' is not a time"),
        (("list", "--op", "upsret"), "op= takes an op type"),
        (("purge", "--rate", "5"), "--rate paces replay only"),
        (("replay", "--rate", "0"), "--rate must be"),
        (("list", "--since", "2h", "--until", "3h"), "later than until"),
    ],
)
def test_dead_letter_filter_mistakes_exit_2_with_one_line(
    store_path: str, capsys, argv: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, "dead-letters", store_path, *argv)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
