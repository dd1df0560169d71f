"""Typed settings read from ``ASKDB_*`` environment variables and a ``.env`` file."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from askdb.errors import ConfigError

DEMO_DB_FILENAME = "ads.db"


class Settings(BaseSettings):
    """Everything askdb can be told from outside; one instance is passed to the parts that need it."""

    # extra="ignore": a .env is shared with other tools (HF_TOKEN=..., OPENAI_API_KEY=...), and their
    # lines are none of askdb's business; an unknown ASKDB_* name is caught by ``unknown_settings``.
    model_config = SettingsConfigDict(
        env_prefix="ASKDB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default=Path("~/.askdb"), description="where the demo database, indexes and logs live")
    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: the demo SQLite file in home"
    )
    row_limit: int = Field(
        default=10, ge=1, description="LIMIT the guard puts on queries (the seed asks for 10)"
    )
    max_rows: int = Field(default=1000, ge=1, description="rows the runner fetches at most")
    clarify: bool = Field(
        default=True,
        description="ask one question back when a question has two readings (a period outside the data, a term two tables answer)",
    )
    statement_timeout_s: float = Field(default=15.0, gt=0, description="per-statement time limit")
    llm_backend: str = Field(default="ollama", description="ollama | openai | vllm | llamacpp | replay")
    llm_model: str = Field(
        default="deepseek-r1:7b", description="the model's name on its server, or a GGUF path (llamacpp)"
    )
    ollama_host: str = Field(default="http://127.0.0.1:11434", description="where Ollama answers")
    openai_base_url: str = Field(
        default="http://127.0.0.1:8000/v1", description="an OpenAI-compatible server (vLLM, llama.cpp's, ...)"
    )
    openai_api_key: str | None = Field(default=None, description="the key that server wants, if any")
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="SQL attempts per question, repairs included"
    )
    llm_timeout_s: float = Field(default=120.0, gt=0, description="seconds to wait for the model")
    llm_num_ctx: int = Field(
        default=4096,
        ge=512,
        description="the model's context window in tokens (prompt and reply): sent to Ollama as num_ctx "
        "(as the seed's Modelfile), llama.cpp's n_ctx; for other servers set it to what they serve",
    )
    llm_max_tokens: int = Field(
        default=1024, ge=16, description="the most tokens the model may write for one answer (max_tokens)"
    )
    llm_reasoning_tokens: int | None = Field(
        default=None,
        ge=0,
        description="extra reply tokens for a reasoning model's <think> text; unset: 2048 when the model's "
        "name says it reasons (deepseek-r1, qwq, *thinking) or ASKDB_LLM_THINK is on, else 0",
    )
    llm_chat_template: str = Field(
        default="auto",
        description="llamacpp backend: the chat template; auto: the GGUF's own, or for a GGUF without one "
        "(a base model) the one of its architecture (gemma, chatml); a llama.cpp format name "
        "(gemma, chatml, llama-3, ...) or the path of a Jinja file",
    )
    llm_temperature: float = Field(default=0.1, ge=0, le=2, description="sampling temperature (0 to 2)")
    llm_think: bool | None = Field(default=None, description="ask for separate reasoning where the model can")
    llm_system_in_user: bool = Field(
        default=False, description="DeepSeek-R1: put instructions in the user turn"
    )
    replay_file: Path | None = Field(
        default=None, description="JSONL of recorded replies for the replay backend"
    )
    embedding_model: str = Field(default="all-MiniLM-L6-v2", description="sentence-transformers name or path")
    embedding_runtime: Literal["onnx", "torch", "onnx-int8"] = Field(
        default="onnx",
        description="what embeds questions: onnx (exported once into home/models, checked "
        "against torch, about 3x faster) or torch; onnx-int8: the export with int8 weights for "
        "documents and questions alike (its own index; ~1.5 ms less a question, the same recall "
        "on Spider and the ads set, bench_retrieval.py)",
    )
    models_dir: Path | None = Field(
        default=None, description="where exported model files are kept; default home/models"
    )
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='bearer keys for `askdb serve`, name -> key, as JSON: {"dify": "sk-..."}; empty: no key needed',
    )

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def models_path(self) -> Path:
        return (self.models_dir or self.home / "models").expanduser()

    @property
    def demo_db_path(self) -> Path:
        return self.home / DEMO_DB_FILENAME

    @property
    def database_url(self) -> str:
        """The configured database, or the embedded demo database in ``home``."""
        return self.db_url or f"sqlite:///{self.demo_db_path}"


PREFIX = "ASKDB_"
# Variables of askdb's own test suite and benchmarks, not settings of the program.
NOT_SETTINGS = ("ASKDB_TEST_", "ASKDB_BENCH_")


def unknown_settings(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each ``ASKDB_*`` name among ``names`` that is no setting, with the closest real one (or None)."""
    known = [field.upper() for field in Settings.model_fields]
    found = []
    for name in names:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper.startswith(NOT_SETTINGS):
            continue
        suffix = upper.removeprefix(PREFIX)
        if suffix in known:
            continue
        close = difflib.get_close_matches(suffix, known, n=1, cutoff=0.6)  # the part after the prefix
        found.append((name, PREFIX + close[0] if close else None))
    return found


def _check_names(env_file: Path = Path(".env")) -> None:
    """Refuse an unknown ``ASKDB_*`` variable in the environment or in ``.env``, naming it exactly."""
    from dotenv import dotenv_values

    sources = [("the environment", list(os.environ))]
    if env_file.is_file():
        sources.append((str(env_file), [k for k in dotenv_values(env_file) if k]))
    for where, names in sources:
        for name, close in unknown_settings(names):
            hint = f"did you mean {close}? " if close else ""
            raise ConfigError(
                f"unknown setting {name} (in {where})",
                hint=f"{hint}rename or remove it; the README's settings table lists every setting",
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into a ConfigError that names the variable.

    Lines of ``.env`` that are not askdb's (no ``ASKDB_`` prefix) are left alone; an ``ASKDB_*`` name
    that is no setting is an error that names it and suggests the closest setting.
    """
    unexpected = set(overrides) - set(Settings.model_fields)
    if unexpected:
        raise TypeError(f"load_settings() got unknown settings: {', '.join(sorted(unexpected))}")
    _check_names()
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ASKDB_" + str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        raise ConfigError(
            f"invalid setting {name}: {first['msg']}",
            hint=f"fix {name} in the environment or in .env",
        ) from None


def _default_text(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if value == {} or value == []:
        return "empty"
    return f"`{value}`"


def settings_table() -> str:
    """The README's settings table, made from ``Settings`` so that it cannot go stale (a test compares)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{PREFIX}{name.upper()}` | {_default_text(name)} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m askdb.settings: print the table for the README
    print(settings_table())
