"""Tokens for lexical search over mixed Chinese and English text.

Questions are Chinese, identifiers English with Chinese comments. Chinese runs get jieba words
(search mode, so 点赞数量 also yields 点赞) *and* character bigrams: jieba's dictionary does not
know our jargon and segments a question and a comment differently often enough that bigrams are
what makes them meet. Identifiers are split on ``_`` and case so ``campaign_id`` matches "campaign".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

from askdb.sql.fullwidth import ascii_punctuation

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK}]+|[A-Za-z][A-Za-z0-9]*|[0-9]+(?:\.[0-9]+)?")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_NAME_RUNS = re.compile(rf"[{_CJK}]+|[^{_CJK}]+")

# Words that appear in almost every question and say nothing about which table answers it.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "有",
        "在",
        "和",
        "与",
        "及",
        "或",
        "吗",
        "呢",
        "吧",
        "啊",
        "哪",
        "哪些",
        "哪个",
        "什么",
        "多少",
        "怎么",
        "怎样",
        "如何",
        "一下",
        "一共",
        "总共",
        "请",
        "帮",
        "我",
        "我们",
        "你",
        "多",
        "给",
        "看看",
        "查",
        "查询",
        "查一下",
        "列出",
        "显示",
        "统计",
        "每个",
        "各个",
        "各",
        "每",
        "所有",
        "全部",
        "这",
        "那",
        "这些",
        "那些",
        "个",
        "篇",
        "条",
        "位",
        "按",
        "把",
        "被",
        "都",
        "也",
        "还",
        "最",
        "最多",
        "最少",
        "最高",
        "最低",
        "前",
        "排名",
        "排行",
        "分别",
        "以及",
        "里",
        "中",
        "上",
        "下",
        "其中",
        "对应",
        "一个",
        "情况",
        "数据",
        "之间",
        "相关",
        "为",
        "对",
        "从",
        "到",
        "并",
        "就",
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "many",
        "much",
        "list",
        "show",
        "give",
        "find",
        "return",
        "all",
        "each",
        "every",
        "that",
        "this",
        "these",
        "those",
        "than",
        "as",
        "their",
        "its",
        "it",
        "me",
        "please",
        "number",
        "count",
        "name",
        "names",
        "we",
        "have",
        "has",
        "had",
        "there",
        "any",
    ]
)


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary on stderr otherwise
    return jieba


def words(text: str) -> list[str]:
    """jieba's words of ``text`` (precise mode), every character kept: they add up to ``text``."""
    return list(_jieba().cut(text))


def split_identifier(name: str) -> list[str]:
    """``ads_material_hourly`` -> ads material hourly; ``OrderID`` -> order id; ``篮球运动员`` and
    ``球员_id`` keep their Chinese: 篮球运动员, 球员 id (a Chinese name is the whole of what it says)."""
    words = []
    for part in re.split(r"[_\W]+", name):
        for run in _NAME_RUNS.findall(part):
            words.extend([run] if _IS_CJK.match(run) else [w.lower() for w in _CAMEL.findall(run)])
    return words


def _stem(word: str) -> str:
    # Plural s only: enough for "singers" to meet "singer" without a stemming library.
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def cjk_tokens(run: str) -> list[str]:
    """jieba search-mode words plus character bigrams within the stretches between stopwords."""
    if len(run) == 1:
        return [run]
    tokens: list[str] = []
    chunk = ""
    # Bigrams across a stopword (各品, 牌的) would match unrelated text, so cut the run at stopwords first.
    for word in [*_jieba().lcut(run), ""]:
        if word and word not in STOPWORDS:
            chunk += word
            continue
        if chunk:
            tokens.extend(w for w in _jieba().lcut_for_search(chunk) if w not in STOPWORDS)
            tokens.extend("#" + chunk[i : i + 2] for i in range(len(chunk) - 1))  # '#': not a word
        chunk = ""
    return tokens


def tokenize(text: str) -> list[str]:
    """Lexical tokens of mixed text: lower-case, identifiers split, Chinese segmented, stopwords gone."""
    tokens: list[str] = []
    for run in _RUNS.findall(text):
        if _IS_CJK.match(run):
            tokens.extend(t for t in cjk_tokens(run) if t not in STOPWORDS)
        else:
            tokens.extend(_stem(w) for w in split_identifier(run) if w not in STOPWORDS)
    return tokens


def estimate_tokens(text: str) -> int:
    """A rough LLM token count: one per Chinese character, one per ~3.5 other characters.

    The target model's tokenizer is not available offline; this errs on the high side for DDL.
    """
    cjk = len(_IS_CJK.findall(text))
    return cjk + int((len(text) - cjk) / 3.5) + 1


def normalise_question(question: str) -> str:
    """A question as typed on a Chinese keyboard, with its punctuation (，（）‘’) and full-width
    letters and digits (Ｂ站, ２０２５) made ASCII, as the SQL guard reads SQL."""
    return unicodedata.normalize("NFKC", ascii_punctuation(question))


def has_cjk(text: str) -> bool:
    return _IS_CJK.search(text) is not None
