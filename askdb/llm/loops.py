"""Replies that loop: a small or badly tuned model may write the same words over and over until its
reply budget runs out (``COUNT(CASE WHEN COUNT(CASE WHEN ...``, or the prompt's rules repeated).

Every token of such a loop is wasted time: the reply will be cut anyway, and the SQL in it, if any,
is already broken. :class:`LoopWatch` reads a reply as it streams and says when its end has become
periodic: the same unit of text, ``period`` characters long, written back to back over at least
``MIN_CHARS`` characters and at least ``MIN_REPEATS`` times. A statement never does that (a long
``IN (...)`` list or ``CASE`` has different values in each arm), so a loop is stopped, not a reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from askdb.llm.base import LLM, Chunk, Message, Usage
from askdb.llm.budget import count_reply

LOOP = "loop"  # the finish_reason of a reply stopped this way
MIN_CHARS = 160  # the periodic tail covers at least this much text
MIN_REPEATS = 3  # and holds at least this many whole copies of its unit
MAX_PERIOD = 200  # longest unit looked for (characters): a repeated rule line or clause


@dataclass(frozen=True)
class Loop:
    """A periodic tail: ``unit`` repeated from ``start`` to the end of the text."""

    start: int
    unit: str

    def kept(self, text: str) -> str:
        """The text with the loop written once: what the model meant to say, at most."""
        return text[: self.start + len(self.unit)]


def find_loop(
    text: str, *, min_chars: int = MIN_CHARS, min_repeats: int = MIN_REPEATS, max_period: int = MAX_PERIOD
) -> Loop | None:
    """The loop at the end of ``text``, if its tail repeats one unit; the shortest unit wins."""
    n = len(text)
    for period in range(1, min(max_period, n // min_repeats) + 1):
        span = max(min_chars, period * min_repeats)
        if span > n:
            break
        # periodic with this period over the last `span` characters: each one equals the one
        # `period` before it
        if text[n - span : n - period] != text[n - span + period : n]:
            continue
        start = n - span
        while start >= period and text[start - period : start] == text[start : start + period]:
            start -= period  # the loop began earlier: report its first copy
        if not text[start : start + period].strip():
            continue  # blank lines or spaces, which end by themselves
        return Loop(start, text[start : start + period])
    return None


class LoopWatch:
    """Fed a reply's text as it streams; ``loop`` is set once its end repeats itself.

    Checks after every ``every`` new characters, so a reply costs about as many checks as it has
    lines, not characters.
    """

    def __init__(self, *, every: int = 16) -> None:
        self.every = every
        self.text = ""
        self.loop: Loop | None = None
        self._checked = 0

    def feed(self, piece: str) -> bool:
        """Add ``piece``; true when the reply now ends in a loop."""
        if not piece:
            return self.loop is not None
        self.text += piece
        if self.loop is None and len(self.text) - self._checked >= self.every:
            self._checked = len(self.text)
            self.loop = find_loop(self.text)
        return self.loop is not None


class LoopGuard:
    """A model's stream of chunks, stopped (and closed) as soon as its text starts to loop.

    Iterate it instead of the stream. ``reasoning``: watch the reasoning text too, not only the
    content. After the loop: ``loop`` is the content's loop (None if none, or if the reasoning
    looped), ``stopped`` whether either did, and ``usage`` counts what was written, since a closed
    stream reports no usage.
    """

    def __init__(self, stream: Iterable[Chunk], *, reasoning: bool = True) -> None:
        self.stream = stream
        self.content = LoopWatch()
        self.reasoning = LoopWatch() if reasoning else None
        self.stopped = False

    def __iter__(self) -> Iterator[Chunk]:
        for chunk in self.stream:
            yield chunk
            looped = self.content.feed(chunk.content)
            if self.reasoning is not None:
                looped = self.reasoning.feed(chunk.reasoning) or looped
            if looped:
                # the rest would be the same words until max_tokens: stop the model now
                getattr(self.stream, "close", lambda: None)()
                self.stopped = True
                return

    @property
    def loop(self) -> Loop | None:
        return self.content.loop

    def kept(self) -> str:
        """The content written, its loop kept once."""
        return self.loop.kept(self.content.text) if self.loop else self.content.text

    def usage(self, llm: LLM, messages: Sequence[Message], prompt_tokens: int, max_tokens: int) -> Usage:
        """The usage of a stopped reply: its prompt, and the tokens written before the stop."""
        written = self.content.text + (self.reasoning.text if self.reasoning else "")
        return Usage(prompt_tokens, min(count_reply(llm, messages, written), max_tokens))
