"""Settings: other tools' lines in .env are left alone; an unknown ASKDB_* name is named exactly."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from askdb.cli import main
from askdb.errors import ConfigError
from askdb.settings import load_settings, unknown_settings


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder (where .env is read) with no ASKDB_* variables inherited from this shell."""
    for name in list(__import__("os").environ):
        if name.upper().startswith("ASKDB_") and not name.upper().startswith(("ASKDB_TEST_", "ASKDB_BENCH_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASKDB_HOME", str(tmp_path / "home"))
    return tmp_path


def test_other_tools_lines_in_dotenv_are_ignored(workdir):
    (workdir / ".env").write_text("HF_TOKEN=abc\nOPENAI_API_KEY=sk-x\nASKDB_ROW_LIMIT=7\n", encoding="utf-8")
    settings = load_settings()
    assert settings.row_limit == 7  # askdb's own line is still read


@pytest.mark.parametrize(
    ("line", "named", "suggested"),
    [
        ("ASKDB_ROW_LIMT=5", "ASKDB_ROW_LIMT", "ASKDB_ROW_LIMIT"),
        ("ASKDB_FOO=1", "ASKDB_FOO", None),
        ("askdb_llm_modle=qwen", "askdb_llm_modle", "ASKDB_LLM_MODEL"),
    ],
)
def test_an_unknown_askdb_line_is_named_exactly_with_the_closest_setting(workdir, line, named, suggested):
    (workdir / ".env").write_text(f"HF_TOKEN=abc\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message == f"unknown setting {named} (in .env)"
    assert "ASKDB_ASKDB" not in str(caught.value)
    assert (f"did you mean {suggested}?" in caught.value.hint) == (suggested is not None)
    if suggested is None:
        assert "did you mean" not in caught.value.hint


def test_an_unknown_variable_in_the_environment_is_named_too(workdir, monkeypatch):
    monkeypatch.setenv("ASKDB_LLM_BACKNED", "ollama")
    result = CliRunner().invoke(main, ["schema", "show"])
    assert result.exit_code != 0
    assert "unknown setting ASKDB_LLM_BACKNED (in the environment)" in result.output
    assert "did you mean ASKDB_LLM_BACKEND?" in result.output and "Traceback" not in result.output


def test_test_and_bench_variables_are_not_settings_and_not_errors():
    assert unknown_settings(["ASKDB_TEST_CACHE", "ASKDB_BENCH_HOME", "ASKDB_HOME", "PATH"]) == []
    assert unknown_settings(["ASKDB_HOMEE"]) == [("ASKDB_HOMEE", "ASKDB_HOME")]


def test_an_invalid_value_still_names_its_variable(workdir):
    (workdir / ".env").write_text("ASKDB_ROW_LIMIT=zero\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid setting ASKDB_ROW_LIMIT"):
        load_settings()


def test_the_readme_settings_table_is_the_one_settings_make():
    from pathlib import Path

    from askdb.settings import Settings, settings_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "run `python -m askdb.settings` and paste its table into the README"
    for name in Settings.model_fields:  # every setting is listed, each with what it means
        row = next(line for line in settings_table().splitlines() if f"`ASKDB_{name.upper()}`" in line)
        assert row.rstrip("| ").split("|")[-1].strip(), name
