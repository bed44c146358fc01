"""``acg2vec build images --apply-curation``: a curated version written from the command line, and a run made for
another version (or a rule option beside it) refused in one sentence with a non-zero exit."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from acg2vec.cli import app
from acg2vec.errors import UserError
from tests.datasets.acg_illustrations.test_curated import write_dataset, write_run

pytestmark = pytest.mark.integration


def test_apply_curation_writes_the_next_version_then_refuses_a_run_made_for_the_old_one(tmp_path):
    write_dataset(tmp_path, size=64)
    write_run(tmp_path, size=64)
    args = ["-w", str(tmp_path), "build", "images", "--config", "64", "--apply-curation", "curation/first"]

    done = CliRunner().invoke(app, [*args, "--min-confidence", "0.5", "--drop-duplicates", "--mode", "in_memory"])
    assert done.exit_code == 0, done.output
    assert "train 3, test 1 images" in done.output and "near-duplicate: 2" in done.output
    assert (tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.1" / "dataset_info.json").exists()

    again = CliRunner().invoke(app, [*args, "--mode", "in_memory"])
    assert isinstance(again.exception, UserError)  # the CLI's main prints it as one line and exits non-zero
    assert "was made for acg_illustrations/64/1.0.0, not for acg_illustrations/64/1.0.1" in str(again.exception)

    rules = CliRunner().invoke(app, [*args, "--min-side", "32"])
    assert "keeps the rules of the version it curates; drop --min-side" in str(rules.exception)
    missing = CliRunner().invoke(app, ["-w", str(tmp_path), "build", "images", "--config", "64",
                                       "--apply-curation", "nowhere"])  # fmt: skip
    assert isinstance(missing.exception, UserError) and "is not a curation run" in str(missing.exception)


def test_curation_kinds_choose_which_label_issues_are_applied(tmp_path):
    import json

    def curated(workdir, *kinds):
        write_dataset(workdir, size=64)
        write_run(workdir, size=64)
        args = ["-w", str(workdir), "build", "images", "--config", "64", "--apply-curation", "curation/first"]
        done = CliRunner().invoke(app, [*args, "--min-confidence", "0.0", *kinds, "--mode", "in_memory"])
        assert done.exit_code == 0, done.output
        return json.loads((workdir / "datasets" / "acg_illustrations" / "64" / "1.0.1" / "metadata.json").read_text())

    unknown = CliRunner().invoke(app, ["-w", str(tmp_path), "build", "images", "--config", "64", "--apply-curation",
                                       "curation/first", "--curation-kinds", "missing,odd"])  # fmt: skip
    assert isinstance(unknown.exception, UserError) and "name missing, wrong or both" in str(unknown.exception)

    default = curated(tmp_path / "default")
    both = curated(tmp_path / "both", "--curation-kinds", "missing,wrong")
    assert default["curation"]["kinds"] == ["missing"] and both["curation"]["kinds"] == ["missing", "wrong"]
    # The run flags one wrong tag (post 2's "blue"): removed only when wrong issues are asked for.
    assert default["counts"]["tags"]["removed"] == {} and both["counts"]["tags"]["removed"] == {"tags": {"train": 1}}
    assert default["counts"]["tags"]["added"] == both["counts"]["tags"]["added"]


@pytest.mark.parametrize("damage", ["cut_short", "wrong_kind", "older_format"])
def test_a_damaged_source_version_is_the_damaged_file_sentence(tmp_path, damage):
    from acg2vec.integrity import DamagedFileError
    from tests.damage import DAMAGES

    write_dataset(tmp_path, size=64)
    write_run(tmp_path, size=64)
    info = tmp_path / "datasets" / "acg_illustrations" / "64" / "1.0.0" / "dataset_info.json"
    DAMAGES[damage](info)
    args = ["-w", str(tmp_path), "build", "images", "--config", "64", "--apply-curation", "curation/first"]
    done = CliRunner().invoke(app, [*args, "--mode", "in_memory"])
    assert isinstance(done.exception, DamagedFileError), done.output
    assert str(done.exception).startswith(f"{info} is damaged (")
    assert "acg2vec build images --config 64" in str(done.exception)
    assert not (info.parent.parent / "1.0.1").exists()
