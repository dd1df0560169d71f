"""Synonyms: the words analysts use for one thing (学校/高校, 牌子/品牌, 达人/博主/KOL), as data.

The packaged groups are ``askdb/rag/data/synonyms.txt``; a database adds its own in a note's header
(``synonyms: 投放=推广, 素材=创意``). BM25 searches a question's word together with its group's other
words, a column value is also found under them, and coverage counts the group as one word of the
question (``concepts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from askdb.errors import SchemaError
from askdb.rag.text import tokenize

Group = tuple[str, ...]


def parse_groups(text: str, *, source: str) -> tuple[Group, ...]:
    """One group per line, words separated by spaces; ``#`` starts a comment. A one-word group is an error."""
    groups = []
    for number, line in enumerate(text.splitlines(), 1):
        words = tuple(dict.fromkeys(line.split("#", 1)[0].lower().split()))
        if not words:
            continue
        if len(words) < 2:
            raise SchemaError(
                f"{source} line {number}: a synonym group needs two words or more, found {words[0]!r}",
                hint="put the words that mean the same on one line, separated by spaces",
            )
        groups.append(words)
    return tuple(groups)


@lru_cache(maxsize=1)
def packaged_groups() -> tuple[Group, ...]:
    text = (resources.files("askdb.rag") / "data" / "synonyms.txt").read_text(encoding="utf-8")
    return parse_groups(text, source="askdb/rag/data/synonyms.txt")


class Synonyms:
    """Groups of interchangeable words; a word in two groups joins them."""

    def __init__(self, groups: Iterable[Group]) -> None:
        peers: dict[str, set[str]] = {}
        for group in groups:
            members = {w.lower() for w in group if w.strip()}
            for word in list(members):
                members |= peers.get(word, set())
            for word in members:
                peers[word] = members
        self._peers = {w: tuple(sorted(m - {w})) for w, m in peers.items()}
        # Longest first, so 品牌方 is read before 品牌 inside it.
        self._words = sorted(self._peers, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self._peers)

    def peers(self, word: str) -> tuple[str, ...]:
        return self._peers.get(word.lower(), ())

    def found(self, text: str) -> list[str]:
        """The group words written in ``text``, none inside a longer one found."""
        text = text.lower()
        spans: list[tuple[int, int]] = []
        words = []
        for word in self._words:
            start = text.find(word)
            while start >= 0:
                end = start + len(word)
                if not any(s <= start and end <= e for s, e in spans):
                    spans.append((start, end))
                    words.append(word)
                start = text.find(word, start + 1)
        return list(dict.fromkeys(words))

    def concepts(self, text: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """Each group ``text`` names: the BM25 tokens of the word written, and of its group's other words."""
        out = []
        for word in self.found(text):
            own = _word_tokens(word)
            peers = tuple(t for peer in self.peers(word) for t in _word_tokens(peer))
            if own and peers:
                out.append((own, peers))
        return out

    def expand(self, text: str) -> list[str]:
        """BM25 tokens of the other words of each group ``text`` names: what the question also says."""
        tokens: list[str] = []
        for word in self.found(text):
            for peer in self.peers(word):
                tokens.extend(_word_tokens(peer))
        return tokens


def _word_tokens(word: str) -> tuple[str, ...]:
    """The BM25 tokens that stand for ``word``: its pieces of two characters or more, or the word itself
    when it is one character (省); the pieces jieba cuts an unknown word into (达人: 达, 人) would find any
    table holding 人."""
    if len(word) == 1:
        return (word,)
    tokens = tokenize(word)
    kept = [t for t in tokens if not t.startswith("#") and len(t) >= 2]
    if len(word) == 2 and f"#{word}" in tokens and word not in kept:
        kept.append(f"#{word}")
    # a word with no such piece (B站: b, 站) keeps the pieces it has rather than go unsearched
    return tuple(kept) or tuple(t for t in tokens if not t.startswith("#"))


def synonyms_for(notes_groups: Iterable[Group] = ()) -> Synonyms:
    """The packaged groups and a database's own (from its notes)."""
    return Synonyms([*packaged_groups(), *notes_groups])
