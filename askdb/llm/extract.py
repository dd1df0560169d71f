"""Separate a model's reasoning from its answer, and cut one SQL statement out of the answer.

Models wrap SQL in many ways: code fences, JSON, ``SQLQuery:`` prefixes, Chinese lead-ins,
trailing prose, end-of-sequence tokens. Each way is one small finder; they are tried in a
declared order and the first that finds a statement wins. A reply with no SQL in it (a
decline, an explanation) is a ``NoSql`` outcome, never an error string passed on as SQL.

Several statements: when the others only repeat the first, the first is returned; otherwise
the whole run of statements is returned as found, so that the guard (``askdb.sql``) rejects
the multi-statement input and says so to the model, rather than this module silently
choosing one.

sqlglot (MySQL) is consulted only to split statements and to prefer a parsing candidate; a
statement it cannot parse is still returned, because the guard reports parse errors to the
model with details this module cannot give.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
END_TOKENS = (
    "<|im_end|>",
    "<｜end▁of▁sentence｜>",
    "<|end_of_sentence|>",
    "</s>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end|>",
    "<|EOT|>",
    "<end_of_turn>",
)
# The keywords a read statement (or a write the guard must see and refuse) starts with.
_STATEMENT_START = (
    r"(?:SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE|SHOW|DESC|DESCRIBE|EXPLAIN)"
)
_START_RE = re.compile(rf"(?<![\w`]){_STATEMENT_START}\b", re.IGNORECASE)
_STARTS_SQL_RE = re.compile(rf"\s*\(?\s*{_STATEMENT_START}\b", re.IGNORECASE)
_FENCE_OPEN_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?")
_PREFIX_RE = re.compile(
    r"(?:SQLQuery|SQL\s*Query|SQL\s*语句|SQL\s*查询|查询语句(?:如下)?|SQL(?:如下)?|答案|Answer|Query)\s*[:：]\s*",
    re.IGNORECASE,
)
_TRAILER_RE = re.compile(
    r"\n?\s*(?:SQLResult|Result|Answer|Explanation|解释|说明|结果)\s*[:：]", re.IGNORECASE
)
# What introduces a statement as the answer after drafts, in the last _LEAD_IN characters before it.
_FINAL_RE = re.compile(
    r"最终|最后的?(?:答案|SQL|查询)|修正|更正|改正|正确的|改进后|优化后|完整的|\bfinal\b|\bcorrect(?:ed|ion)?\b"
    r"|\bfixed\b|\brevised\b|\bupdated\b|\binstead\b",
    re.IGNORECASE,
)
_LEAD_IN = 120
_JSON_KEYS = ("sql", "query", "SQL", "sql_query", "statement")


@dataclass(frozen=True)
class SqlFound:
    """One statement cut out of the answer; ``source`` says which shape it was found in."""

    sql: str
    source: str


@dataclass(frozen=True)
class NoSql:
    """The answer holds no SQL: a decline or prose. ``text`` is the answer, for showing to the user."""

    reason: str
    text: str


Outcome = SqlFound | NoSql


@dataclass(frozen=True)
class Extraction:
    reasoning: str
    answer: str
    outcome: Outcome


# -- reasoning ---------------------------------------------------------------------------------


def strip_end_tokens(text: str) -> str:
    """The text up to its first end-of-sequence token, where some servers' templates let them through.

    What follows an end token that ends some text is not the reply: a model that was not stopped
    there writes a made-up next turn. Stray end tokens before any text are dropped.
    """
    ends = [(i, token) for token in END_TOKENS if (i := text.find(token)) != -1]
    if not ends:
        return text
    i, token = min(ends)
    if text[:i].strip():
        return text[:i]
    return strip_end_tokens(text[i + len(token) :])


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) from a reply that may hold ``<think>…</think>``.

    R1 distills often start thinking without writing the opening tag (the chat template
    supplies it), so a lone ``</think>`` ends reasoning that began at the start of the text.
    An unclosed ``<think>`` means the model never finished thinking: all reasoning, no answer.
    """
    text = strip_end_tokens(text)
    close = text.find(THINK_CLOSE)
    open_ = text.find(THINK_OPEN)
    if close == -1 and open_ == -1:
        return "", text.strip()
    if close == -1:  # opened, never closed
        return text[open_ + len(THINK_OPEN) :].strip(), text[:open_].strip()
    start = open_ + len(THINK_OPEN) if -1 < open_ < close else 0
    before = text[:open_] if -1 < open_ < close else ""
    reasoning = text[start:close].strip()
    answer = (before + text[close + len(THINK_CLOSE) :]).strip()
    return reasoning, answer


class ThinkStream:
    """Splits a reply into reasoning and answer while it streams, as ``split_reasoning`` does at its end.

    ``feed`` takes each content chunk and returns ``(kind, text)`` pieces, kind ``"reasoning"`` or
    ``"answer"``; a tag cut across two chunks is held back until it is whole. ``opened``: the chat
    template may have written ``<think>`` already (an R1 distill), so a reply that does not open
    with the tag starts inside the reasoning and a lone ``</think>`` ends it; if none comes,
    ``close`` gives the text back as the answer, since a reply without tags is all answer.
    """

    def __init__(self, *, opened: bool = False) -> None:
        self.opened = opened
        self.state = "start"
        self.held = ""  # text not given out yet: a possible tag, or leading whitespace
        self.thought: list[str] = []  # reasoning given out, in case it turns out to be the answer
        self.closed_tag = False
        self.answer_started = False

    def feed(self, text: str) -> list[tuple[str, str]]:
        self.held += text
        out: list[tuple[str, str]] = []
        while self.held:
            if self.state == "start":
                head = self.held.lstrip()
                if head.startswith(THINK_OPEN):
                    self.state, self.held = "think", head[len(THINK_OPEN) :]
                    continue
                if THINK_OPEN.startswith(head):  # "", "<", "<th": could still be the tag
                    break
                self.state = "think" if self.opened else "answer"
                continue
            if self.state == "think":
                i = self.held.find(THINK_CLOSE)
                if i != -1:
                    self._think(out, self.held[:i])
                    self.state, self.held, self.closed_tag = "answer", self.held[i + len(THINK_CLOSE) :], True
                    continue
                keep = _partial_suffix(self.held, THINK_CLOSE)
                self._think(out, self.held[: len(self.held) - keep])
                self.held = self.held[len(self.held) - keep :]
                break
            # answer: leading whitespace after the reasoning is dropped, the rest goes out as it comes
            piece = self.held if self.answer_started else self.held.lstrip()
            self.held = ""
            if piece:
                self.answer_started = True
                out.append(("answer", piece))
        return out

    def close(self) -> list[tuple[str, str]]:
        """What is still held, at the end of the reply."""
        out: list[tuple[str, str]] = []
        rest, self.held = self.held, ""
        if self.state == "start" and self.opened:
            self.state = "think"
        if self.state == "think":
            self._think(out, rest)
            if self.opened and not self.closed_tag:  # no tag at all: the whole reply was the answer
                whole = "".join(self.thought).strip()
                if whole:
                    out.append(("answer", whole))
        elif rest.strip():
            out.append(("answer", rest if self.answer_started else rest.lstrip()))
        return out

    def _think(self, out: list[tuple[str, str]], text: str) -> None:
        if text:
            self.thought.append(text)
            out.append(("reasoning", text))


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that could be the start of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


# -- statement helpers -------------------------------------------------------------------------


def _statements(sql: str) -> list[str]:
    """Statements split at top-level semicolons (sqlglot's tokenizer knows strings and comments)."""
    try:
        tokens = sqlglot.tokenize(sql, read="mysql")
    except SqlglotError:
        return [s.strip() for s in sql.split(";") if s.strip()]
    parts, start = [], 0
    for token in tokens:
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            parts.append(sql[start : token.start].strip())
            start = token.end + 1
    parts.append(sql[start:].strip())
    return [p for p in parts if p]


def _canonical(sql: str) -> str:
    try:
        return exp.maybe_parse(sql, dialect="mysql").sql(dialect="mysql")
    except SqlglotError:
        return " ".join(sql.split()).lower()


def _one_statement(sql: str) -> str:
    """The statement without its trailing semicolon; repeats collapse to the first, other runs stay whole."""
    sql = strip_end_tokens(sql).strip()
    parts = _statements(sql)
    if not parts:
        return ""
    # Parsing to compare costs milliseconds: a single statement (nearly every reply) needs none.
    if len(parts) == 1 or len({_canonical(p) for p in parts}) == 1:
        return parts[0]
    return sql.rstrip().rstrip(";").rstrip()


def _parses(sql: str) -> bool:
    try:
        return bool(sqlglot.parse_one(sql, read="mysql"))
    except SqlglotError:
        return False


def _cut_statement(text: str) -> str | None:
    """From where SQL starts in ``text``, up to the end of the statement (prose after it dropped)."""
    if _STARTS_SQL_RE.match(text):
        tail = text.lstrip()
    elif match := _START_RE.search(text):
        tail = text[match.start() :]
    else:
        return None
    tail = _TRAILER_RE.split(tail, maxsplit=1)[0]
    return _trim_prose(tail)


def _trim_prose(sql: str) -> str:
    """Cut text after the statement: after its last semicolon, or at the first line of prose."""
    if len(_statements(sql)) > 1 or sql.rstrip().endswith(";"):
        return sql[: _end_of_statements(sql)]
    lines = sql.split("\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if _is_prose(line):
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|#[^\n]*")
_CJK_RE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_SENTENCE_RE = re.compile(r"^[A-Z][a-z]+\b[^;]*[.!?:]$")


def _is_prose(line: str) -> bool:
    """A line that is a sentence about the SQL rather than part of it (Chinese outside quotes, or English)."""
    bare = _QUOTED_RE.sub("", line).strip()
    if not bare or _STARTS_SQL_RE.match(bare) or _looks_like_sql_continuation(bare):
        return False
    return bool(_CJK_RE.search(bare) or _SENTENCE_RE.match(bare))


def _looks_like_sql_continuation(line: str) -> bool:
    return bool(
        re.match(
            r"\s*(?:FROM|WHERE|GROUP|ORDER|HAVING|LIMIT|JOIN|LEFT|RIGHT|INNER|UNION|AND|OR|ON)\b",
            line,
            re.IGNORECASE,
        )
    )


def _end_of_statements(sql: str) -> int:
    """Index just past the last semicolon-terminated statement that is followed only by SQL or prose."""
    try:
        tokens = sqlglot.tokenize(sql, read="mysql")
    except SqlglotError:
        return len(sql)
    end, after_semicolon = len(sql), False
    for token in tokens:
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            end, after_semicolon = token.end + 1, True
        elif after_semicolon:
            rest = sql[token.start :]
            if not _STARTS_SQL_RE.match(rest):
                return end  # prose follows the last statement
            after_semicolon = False
            end = len(sql)
    return end


# -- finders, tried in order ----------------------------------------------------------------------


def _fence_end(text: str, start: int) -> int:
    """Where the fence opened before ``start`` closes: the first ``` outside a quoted string.

    A string literal may hold ``` (``LIKE '%```%'``); a fence with an apostrophe in prose and no
    balanced quotes falls back to the first ``` at all.
    """
    quote, i = "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif text.startswith("```", i):
            return i
        i += 1
    plain = text.find("```", start)
    return plain if plain != -1 else len(text)


def _fences(answer: str) -> list[tuple[str, str, str]]:
    """(language, body, the text since the previous block) of every fenced block; an unclosed fence
    runs to the end."""
    blocks, pos = [], 0
    while match := _FENCE_OPEN_RE.search(answer, pos):
        end = _fence_end(answer, match.end())
        blocks.append((match.group(1).lower(), answer[match.end() : end], answer[pos : match.start()]))
        pos = end + 3
    return blocks


def _final(candidates: list[tuple[str, str]]) -> tuple[str, str]:
    """The block the reply presents as its answer: the last one introduced as final or corrected
    ("最终的 SQL:", "修正后:", "Final answer:"), else the first; drafts before it are not the answer."""
    for body, lead in reversed(candidates[1:]):
        if _FINAL_RE.search(lead[-_LEAD_IN:]):
            return body, lead
    return candidates[0]


_LEADING_COMMENTS_RE = re.compile(r"\s*(?:(?:--|#)[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)


def _opens_sql(body: str) -> bool:
    """Whether a ```sql block holds a statement: prose after "```sql" (a model repeating the rule
    "只输出一个 ```sql 代码块") is not one."""
    text = _strip_prefix(body)
    while match := _LEADING_COMMENTS_RE.match(text):
        if not match.group(0):
            break
        text = text[match.end() :]
    return bool(_STARTS_SQL_RE.match(text))


def _from_fences(answer: str) -> SqlFound | None:
    blocks = _fences(answer)
    sql_blocks = [(b, lead) for lang, b, lead in blocks if lang in ("sql", "mysql") and _opens_sql(b)]
    other = [(b, lead) for lang, b, lead in blocks if lang == "" and _STARTS_SQL_RE.match(b)]
    for candidates, source in ((sql_blocks, "```sql fence"), (other, "``` fence")):
        if candidates:
            body, _ = _final(candidates)
            return SqlFound(_one_statement(_strip_prefix(body)), source)
    json_blocks = [b for lang, b, _ in blocks if lang == "json"]
    for body in json_blocks:
        found = _from_json(body)
        if found:
            return SqlFound(found.sql, "json fence")
    return None


def _strip_prefix(text: str) -> str:
    match = _PREFIX_RE.match(text.strip())
    return text.strip()[match.end() :] if match else text


def _json_sql(value: object) -> str | None:
    if isinstance(value, str) and _STARTS_SQL_RE.match(value):
        return value
    if isinstance(value, dict):
        for key in (*_JSON_KEYS, "steps"):
            if key in value and (found := _json_sql(value[key])):
                return found
    if isinstance(value, list):
        statements = [s for item in value if (s := _json_sql(item))]
        return ";\n".join(statements) if statements else None
    return None


def _from_json(answer: str) -> SqlFound | None:
    start = answer.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(answer[start:])
        except json.JSONDecodeError:
            start = answer.find("{", start + 1)
            continue
        sql = _json_sql(value)
        return SqlFound(_one_statement(sql), "json") if sql else None
    return None


def _from_prefix(answer: str) -> SqlFound | None:
    for match in _PREFIX_RE.finditer(answer):
        rest = answer[match.end() :]
        if _STARTS_SQL_RE.match(rest):
            cut = _cut_statement(rest)
            if cut:
                label = match.group(0).strip().rstrip(":：").strip()
                return SqlFound(_one_statement(cut), f"{label}: prefix")
    return None


def _from_prose(answer: str) -> SqlFound | None:
    # Only a statement at the start of a line: "select" in the middle of a sentence is prose.
    for match in re.finditer(rf"(?m)^[ \t>*-]*(?=\(?\s*{_STATEMENT_START}\b)", answer, re.IGNORECASE):
        cut = _cut_statement(answer[match.end() :])
        if cut and (_looks_like_query(cut) or _parses(cut)):  # the regex first: a parse costs ~1 ms
            return SqlFound(_one_statement(cut), "text")
    return None


def _looks_like_query(cut: str) -> bool:
    return bool(re.search(r"\bFROM\b|\bSELECT\s+\d", cut, re.IGNORECASE))


FINDERS: tuple[Callable[[str], SqlFound | None], ...] = (_from_fences, _from_json, _from_prefix, _from_prose)

_DECLINE_RE = re.compile(
    r"抱歉|无法|不能|没有.*(?:表|字段|数据)|cannot|can't|unable|sorry|not possible", re.IGNORECASE
)


def extract_sql(answer: str) -> Outcome:
    """One SQL statement from a model's answer (reasoning already removed), or why there is none."""
    text = strip_end_tokens(answer).strip()
    if not text:
        return NoSql("the answer is empty", text)
    for finder in FINDERS:
        found = finder(text)
        if found is not None and found.sql:
            return found
    reason = (
        "the model declined to write SQL" if _DECLINE_RE.search(text) else "no SQL statement in the answer"
    )
    return NoSql(reason, text)


def extract(text: str) -> Extraction:
    """Reasoning, answer and the SQL outcome of one raw reply."""
    reasoning, answer = split_reasoning(text)
    if THINK_OPEN in text and THINK_CLOSE not in text and not answer:
        return Extraction(reasoning, answer, NoSql("the model stopped while still reasoning", answer))
    return Extraction(reasoning, answer, extract_sql(answer))
