"""``--out`` never silently overwrites or mixes runs (issue 9 papercut)."""

from __future__ import annotations

import json

import pytest

from etal.cli import main
from etal.provenance import OutputDirError, prepare_output_dir

OWN = ("selected.csv", "suggestions.csv", "checkpoint")


def _fill(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("x")


def test_empty_or_missing_folder_is_used(tmp_path):
    assert prepare_output_dir(tmp_path / "new", command="etal run", own=OWN).is_dir()
    assert prepare_output_dir(tmp_path / "new", command="etal run", own=OWN, check_only=True)


def test_check_only_creates_nothing(tmp_path):
    prepare_output_dir(tmp_path / "later", command="etal run", own=OWN, check_only=True)
    assert not (tmp_path / "later").exists()


def test_finished_run_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "o"
    _fill(out, ["selected.csv", "manifest.json"])
    (out / "manifest.json").write_text(json.dumps({"command": "etal run"}))
    with pytest.raises(OutputDirError, match=r"earlier `etal run`.*force=True") as info:
        prepare_output_dir(out, command="etal run", own=OWN)
    assert info.value.param == "force"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "selected.csv"]


def test_force_removes_only_etals_own_files(tmp_path):
    out = tmp_path / "o"
    _fill(out, ["selected.csv", "notes.txt", "manifest.json"])
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "state.json").write_text("{}")
    prepare_output_dir(out, command="etal run", own=OWN, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_default_folder_may_replace_the_same_command_only(tmp_path):
    out = tmp_path / "o"
    _fill(out, ["selected.csv"])
    (out / "manifest.json").write_text(json.dumps({"command": "etal run"}))
    prepare_output_dir(out, command="etal run", own=OWN, replace_same_command=True)
    assert list(out.iterdir()) == []
    _fill(out, ["selected.csv", "mine.txt"])
    (out / "manifest.json").write_text(json.dumps({"command": "etal run"}))
    with pytest.raises(OutputDirError, match="mine.txt"):
        prepare_output_dir(out, command="etal run", own=OWN, replace_same_command=True)
    (out / "mine.txt").unlink()
    with pytest.raises(OutputDirError, match="etal bias"):
        (out / "manifest.json").write_text(json.dumps({"command": "etal bias"}))
        prepare_output_dir(out, command="etal run", own=OWN, replace_same_command=True)


def test_cli_refuses_a_used_out_then_force_replaces_it(tmp_path, capsys):
    out = tmp_path / "bias"
    assert main(["bias", "--bootstrap", "0", "--out", str(out)]) == 0
    (out / "keep.txt").write_text("mine")
    before = (out / "bias.csv").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["bias", "--bootstrap", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("etal bias: error:") and "--force" in err and "force=True" not in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "bias.csv").stat().st_mtime_ns == before
    assert main(["bias", "--bootstrap", "0", "--out", str(out), "--force"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "bias.csv").exists()


def test_cli_bad_input_with_force_writes_and_removes_nothing(tmp_path, capsys):
    out = tmp_path / "bias"
    assert main(["bias", "--bootstrap", "0", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert main(["bias", "--target-col", "nope", "--out", str(out), "--force"]) == 2
    assert sorted(p.name for p in out.iterdir()) == names


def test_default_folder_never_replaces_an_unfinished_run(tmp_path):
    out = tmp_path / "o"
    _fill(out, ["history.csv"])
    (out / "checkpoint").mkdir()
    (out / "manifest.json").write_text(json.dumps({"command": "etal run", "status": "interrupted"}))
    with pytest.raises(OutputDirError, match=r"unfinished `etal run` \(status: interrupted\)"):
        prepare_output_dir(out, command="etal run", own=OWN + ("history.csv",), replace_same_command=True)
    assert (out / "checkpoint").is_dir() and (out / "history.csv").exists()
    (out / "manifest.json").write_text(json.dumps({"command": "etal run", "status": "finished"}))
    prepare_output_dir(out, command="etal run", own=OWN + ("history.csv",), replace_same_command=True)
    assert list(out.iterdir()) == []
