"""Full-width punctuation typed with a Chinese input method, made ASCII where SQL reads it.

``SELECT a，b FROM t WHERE city = ‘上海’ AND （fans > 10）；`` is what a person (or a model) writes
with a Chinese keyboard: the commas, brackets, quotes and semicolon are full-width and no SQL
parser knows them. Outside string literals they become their ASCII forms; a full-width quote opens
or closes a string as its ASCII twin would. Inside a string (and in backquoted names) nothing
changes, so ``LIKE '%，%'`` still looks for the full-width comma.
"""

from __future__ import annotations

PUNCTUATION = {
    "，": ",",
    "（": "(",
    "）": ")",
    "；": ";",
    "：": ":",
    "＝": "=",
    "＞": ">",
    "＜": "<",
    "＊": "*",
    "　": " ",  # the ideographic space
}
QUOTES = {"‘": "'", "’": "'", "“": '"', "”": '"'}
_ASCII_QUOTES = ("'", '"', "`")


def ascii_punctuation(sql: str) -> str:
    """``sql`` with full-width punctuation outside string literals and quoted names made ASCII."""
    if not any(ch in PUNCTUATION or ch in QUOTES for ch in sql):
        return sql
    out: list[str] = []
    quote: str | None = None  # the ASCII quote of the literal (or name) we are in
    full_width = False  # it was opened by ‘ or “: then ’ or ” closes it too
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is None:
            if ch in _ASCII_QUOTES:
                quote, full_width = ch, False
                out.append(ch)
            elif ch in QUOTES:
                quote, full_width = QUOTES[ch], True  # ‘上海’ is '上海'
                out.append(quote)
            else:
                out.append(PUNCTUATION.get(ch, ch))
        else:
            closes = ch == quote or (full_width and QUOTES.get(ch) == quote)
            if ch == "\\" and quote != "`" and i + 1 < len(sql):  # MySQL's backslash escape
                out.append(sql[i : i + 2])
                i += 2
                continue
            if closes and quote != "`" and i + 1 < len(sql) and sql[i + 1] == ch:  # '' inside ''
                out.append(quote * 2)
                i += 2
                continue
            out.append(quote if closes else ch)
            if closes:
                quote = None
        i += 1
    return "".join(out)
