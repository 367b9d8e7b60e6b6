"""Scrubs secrets from anything a worker prints, because provider errors echo keys back.

Applied to every stdout document and every log line, so a key in the environment, an
`Authorization` header or a key fragment quoted in a provider's error body never leaves
the process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
_MIN_SECRET_LEN = 8

# What is secret-shaped, as rules a literal locates (see `redact_text`). Values after a
# header or parameter name are redacted only when they do not look like an ordinary word, so
# "invalid_api_key: Incorrect API key provided" keeps its words while "api_key=abc123" does not.
_KNOWN_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "negotiate", "ntlm", "apikey", "api-key", "key"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+")  # Incorrect, invalid, API: a word, not a credential
_MAX_WORD_LEN = 20
_TRAILING_PUNCTUATION = ".!?;:)"

_KEY_SHAPED = {  # case-sensitive prefixes: the whole token is the key
    "sk-": re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),  # OpenAI, Anthropic (sk-ant-), DeepSeek
    "xai-": re.compile(r"xai-[A-Za-z0-9_\-]{8,}"),  # xAI
    "AIza": re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
}
# `\s` is bounded so a name followed by a megabyte of spaces costs a bounded look, not a scan.
_AUTHORIZATION = re.compile(
    r"authorization[\"']?\s{0,16}[:=]\s{0,16}[\"']?(?:([A-Za-z][A-Za-z0-9._-]*)[ \t]{1,16})?([^\s\"',;}&]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"bearer[ \t]{1,16}([A-Za-z0-9._~+/=\-]+)", re.IGNORECASE)
_API_KEY = re.compile(r"api[-_]?key[\"']?\s{0,16}[:=]\s{0,16}[\"']?([^\"'\s,}&]+)", re.IGNORECASE)
_QUERY_KEY = re.compile(r"key=([^&\s\"']+)", re.IGNORECASE)
_USERINFO = re.compile(r"://([^/\s@?#\"'<>\[\]]+)@")
# Most strings of a document are short and hold none of the literals: for them one regex
# search (C speed for a few hundred characters) is cheaper than the per-rule finds.
_ANY_LITERAL = re.compile(r"(?i)authorization|bearer|api[-_]?key|key=|://|sk-|xai-|aiza")
_SHORT = 512


class _EnvSecrets:
    """The values of the environment's secret-named variables, cheap to ask for per string.

    Decoding every variable's value for every string made redaction the largest cost of a
    warm worker's job. So each call lists only the names (a few microseconds), picks the
    secret-named ones again only when the names changed, and reads just those values: a
    variable set, removed or changed is seen at once, through `os.environ`'s public API.
    """

    def __init__(self) -> None:
        self._all_names: tuple[str, ...] | None = None
        self._names: tuple[str, ...] = ()
        self._values: tuple[str | None, ...] = ()
        self._secrets: list[str] = []
        self._raw: dict[Any, Any] | None = None

    def current(self) -> list[str]:
        # CPython keeps the environment as a dict of encoded names and values behind
        # `os.environ`: comparing it with a copy of what it held last time (at C speed, no
        # decoding) says the environment is unchanged, which it nearly always is.
        raw = getattr(os.environ, "_data", None)
        if isinstance(raw, dict):
            if raw == self._raw:
                return self._secrets
            self._raw = dict(raw)
        return self._read()

    def _read(self) -> list[str]:
        all_names = tuple(os.environ)
        if all_names != self._all_names:
            self._all_names = all_names
            self._names = tuple(name for name in all_names if name.upper().endswith(_SECRET_ENV_SUFFIXES))
        values = tuple(os.environ.get(name) for name in self._names)
        if values != self._values:
            self._values = values
            found = {value for value in values if value is not None and len(value) >= _MIN_SECRET_LEN}
            self._secrets = sorted(found, key=len, reverse=True)
        return self._secrets


_env_secrets = _EnvSecrets().current


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every environment secret and every key-shaped string replaced by [REDACTED].

    Linear in the length of `text`, and cheap: each rule is located by a literal and its
    pattern is only tried, anchored, where that literal is. Scanning with the patterns
    themselves cost ~50 ns a character (5 s for a 50 MB answer). ASCII text (any worker's
    document) is searched at a rare character of each literal (`_pivot_candidates`: ~2 ns a
    character for a 17 MB analysis document, 30 ms where whole-literal finds took 100 ms);
    other text with `str.find`, on a lower-cased copy for the case-insensitive rules, a
    window at a time, so the copy and the finds stay in the CPU cache however long it is.
    """
    for secret in _env_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if len(text) <= _SHORT and _ANY_LITERAL.search(text) is None:
        return text
    candidates = _candidates(text)
    if not candidates:
        return text
    pieces: list[str] = []
    done = 0  # text[:done] is in pieces already
    scanned = [0] * len(_RULES)  # a rule never re-reads what its last match covered: linear
    for pos, index in candidates:
        rule = _RULES[index]
        if pos < done or pos < scanned[index]:
            continue
        if rule.before is not None and not rule.before(text[pos - 1] if pos else ""):
            continue
        match = rule.pattern.match(text, pos)
        if match is None:
            continue
        scanned[index] = match.end()
        for span_start, span_end in rule.decide(match):
            pieces.append(text[done:span_start])
            pieces.append(REDACTED)
            done = span_end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


# A rule's decision on one anchored match: the (start, end) spans to replace, in order.
Decide = Callable[[re.Match[str]], list[tuple[int, int]]]


@dataclass(frozen=True)
class _Rule:
    literal: str  # where the pattern can match (lower case unless case_sensitive)
    pattern: re.Pattern[str]
    decide: Decide
    case_sensitive: bool = False
    before: Callable[[str], bool] | None = None  # the character before the literal ("" at the start)


_WINDOW = 1 << 18  # characters searched at a time: a window and its lower-cased copy fit in cache


def _lower(text: str) -> str:
    # U+0130 is the only character whose lower case is two characters long; positions in the
    # lowered copy must be positions in the text.
    return (text.replace("\u0130", "i") if "\u0130" in text else text).lower()


def _candidates(text: str) -> list[tuple[int, int]]:
    """(position, rule index) of every rule's literal in `text`, in text order."""
    if text.isascii():
        return _pivot_candidates(text)
    return _find_candidates(text)


# Where each rule's literal is looked for in ASCII text: at one of its characters that is
# rare in JSON documents and log lines, which `str.find` then locates a memchr at a time
# (~0.05 ns a character). `str.find` of the whole literal is ~0.6 ns a character when the
# literal's last character is common ("sk-", "://", "bearer"): 0.1 s for a 17 MB document.
_PIVOTS = {
    "authorization": "z",
    "bearer": "b",
    "apikey": "k",
    "api-key": "k",
    "api_key": "k",
    "key=": "k",
    "://": "/",
    "sk-": "k",
    "xai-": "x",
    "AIza": "z",
}
# A pivot character found more often than one in this many characters costs more in Python
# per occurrence than `str.find` of its literals: those literals are found the usual way.
_PIVOT_DENSITY = 512


def _pivot_groups() -> dict[str, list[tuple[int, int, str, bool]]]:
    """Pivot character -> (rule index, the pivot's offset in the literal, literal, case-sensitive)."""
    groups: dict[str, list[tuple[int, int, str, bool]]] = {}
    for index, rule in enumerate(_RULES):
        pivot = _PIVOTS[rule.literal]
        offset = rule.literal.index(pivot)
        variants = {pivot} if rule.case_sensitive else {pivot, pivot.upper()}
        for char in sorted(variants):
            groups.setdefault(char, []).append((index, offset, rule.literal, rule.case_sensitive))
    return groups


def _pivot_candidates(text: str) -> list[tuple[int, int]]:
    """`_find_candidates` for ASCII text (where lower case is `str.lower` of each slice), faster.

    Each occurrence of a pivot character costs one comparison per rule it serves, and a
    character denser than `_PIVOT_DENSITY` hands its rules to `str.find`: linear either way.
    """
    found: list[tuple[int, int]] = []
    size = len(text)
    limit = max(64, size // _PIVOT_DENSITY)
    dense: set[int] = set()
    for char, rules in _PIVOT_GROUPS.items():
        hits: list[int] = []
        pos = text.find(char)
        while pos >= 0 and len(hits) <= limit:
            hits.append(pos)
            pos = text.find(char, pos + 1)
        if pos >= 0:  # too many: these rules search for their literals instead
            dense.update(index for index, _, _, _ in rules)
            continue
        for index, offset, literal, case_sensitive in rules:
            for hit in hits:
                start = hit - offset
                if start < 0:
                    continue
                if case_sensitive:
                    if text.startswith(literal, start):
                        found.append((start, index))
                elif text[start : start + len(literal)].lower() == literal:
                    found.append((start, index))
    if dense:
        # A rule listed under both cases of its pivot is searched once, whole.
        found = [item for item in found if item[1] not in dense]
        found.extend(_find_candidates(text, dense))
    found.sort()
    return found


def _find_candidates(text: str, only: set[int] | None = None) -> list[tuple[int, int]]:
    """(position, rule index) of every rule's literal (those in `only`, if given), in text order."""
    found: list[tuple[int, int]] = []
    size = len(text)
    longest = max(len(rule.literal) for rule in _RULES)
    for start in range(0, size, _WINDOW):
        end = min(size, start + _WINDOW + longest - 1)  # a literal starting in the window fits
        last = min(size, start + _WINDOW)
        lowered = _lower(text[start:end])  # the whole text itself (no copy) when it fits one window
        for index, rule in enumerate(_RULES):
            if only is not None and index not in only:
                continue
            if rule.case_sensitive:
                pos = text.find(rule.literal, start, end)
                while 0 <= pos < last:
                    found.append((pos, index))
                    pos = text.find(rule.literal, pos + 1, end)
            else:
                pos = lowered.find(rule.literal)
                while 0 <= pos < last - start:
                    found.append((start + pos, index))
                    pos = lowered.find(rule.literal, pos + 1)
    found.sort()
    return found


def _not_a_word_char(char: str) -> bool:
    """What `\\b` checks before the literal ("" is the start of the text)."""
    return not (char.isalnum() or char == "_")


def _query_separator(char: str) -> bool:
    return char in ("?", "&")


def _looks_like_a_word(value: str) -> bool:
    return len(value) < _MAX_WORD_LEN and _WORD.fullmatch(value) is not None


def _credential_span(match: re.Match[str], group: int) -> tuple[int, int] | None:
    """The span of a captured value, trailing sentence punctuation left out, or None if it is a word."""
    value = match.group(group)
    stripped = value.rstrip(_TRAILING_PUNCTUATION)
    if not stripped or _looks_like_a_word(stripped):
        return None
    start = match.start(group)
    return start, start + len(stripped)


def _authorization(match: re.Match[str]) -> list[tuple[int, int]]:
    """Every scheme (Basic, Bearer, Token, a custom one) or none: the credentials go, words stay."""
    scheme = match.group(1)
    if scheme is not None and scheme.lower() in _KNOWN_SCHEMES:
        value = match.group(2).rstrip(_TRAILING_PUNCTUATION) or match.group(2)
        return [(match.start(2), match.start(2) + len(value))]
    span = _credential_span(match, 2)
    if scheme is not None and not _looks_like_a_word(scheme):  # not a scheme: a credential too
        return [(match.start(1), match.end(1)), *([span] if span else [])]
    return [span] if span else []


def _value_unless_word(match: re.Match[str]) -> list[tuple[int, int]]:
    span = _credential_span(match, 1)
    return [span] if span else []


def _value(match: re.Match[str]) -> list[tuple[int, int]]:
    """The captured value whatever it looks like: `?key=` (Gemini's query-string key), URL userinfo."""
    return [(match.start(1), match.end(1))]


def _whole(match: re.Match[str]) -> list[tuple[int, int]]:
    return [(match.start(), match.end())]


_RULES: tuple[_Rule, ...] = (
    _Rule("authorization", _AUTHORIZATION, _authorization),
    _Rule("bearer", _BEARER, _value_unless_word, before=_not_a_word_char),
    *(_Rule(literal, _API_KEY, _value_unless_word) for literal in ("apikey", "api-key", "api_key")),
    _Rule("key=", _QUERY_KEY, _value, before=_query_separator),
    _Rule("://", _USERINFO, _value, case_sensitive=True),  # user:password@ (a user name can be a token)
    *(
        _Rule(literal, pattern, _whole, case_sensitive=True, before=_not_a_word_char)
        for literal, pattern in _KEY_SHAPED.items()
    ),
)


_PIVOT_GROUPS = _pivot_groups()


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """Returns a copy of a JSON-like value with secrets in every string replaced, keys included.

    Keys matter too: an echoed id becomes a key (analyze_basic's `perModel` is keyed by
    modelId). Field names repeat across documents, so a key's redaction is remembered for as
    long as the secrets stay the same; two keys that redact to the same text are told apart
    by a suffix, so neither entry is lost.
    """
    if secrets is None:
        secrets = _env_secrets()  # read the environment once per value, not once per string
    return _redact(value, secrets, _key_cache(secrets))


def redact_fresh(value: Any) -> Any:
    """`redact(value)` for a value the caller has just built and uses for nothing else.

    Most log lines and documents hold nothing to redact: then the value itself is returned,
    not a copy. That is known from one look at all its strings at once, joined by NUL (which
    no literal and no environment value, so no secret, contains): an ASCII whole without any
    rule's literal (found with `str.find` in its lower case, which for ASCII text agrees with
    the rules' case-insensitive patterns) and without any secret means none in any one
    string, so `redact` would change nothing. A value with a long or non-ASCII string, or a
    hit, takes the ordinary path.
    """
    secrets = _env_secrets()
    texts: list[str] = []
    if _short_texts(value, texts):
        joined = "\x00".join(texts)
        if joined.isascii():
            lowered = joined.lower()
            if not any(literal in lowered for literal in _LITERALS) and not any(secret in joined for secret in secrets):
                return value
    return _redact(value, secrets, _key_cache(secrets))


def _short_texts(value: Any, texts: list[str]) -> bool:
    """Adds every string of `value` (keys too) to `texts`; False if one is long, or the value is large."""
    stack = [value]
    visits = 0
    while stack:
        visits += 1
        if visits > _VISIT_LIMIT:  # a large value (or one that contains itself): the ordinary path
            return False
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > _SHORT:
                return False
            texts.append(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str):
                    if len(key) > _SHORT:
                        return False
                    texts.append(key)
                if type(inner) not in _PLAIN:
                    stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(inner for inner in item if type(inner) not in _PLAIN)
    return True


_VISIT_LIMIT = 10_000


_KEY_CACHE_LIMIT = 4096
_key_cache_state: tuple[tuple[str, ...] | None, dict[str, str]] = (None, {})


def _key_cache(secrets: list[str]) -> dict[str, str]:
    """Remembered key redactions, forgotten when the secrets change (or the cache grows large)."""
    global _key_cache_state
    owner, cache = _key_cache_state
    current = tuple(secrets)
    if owner != current or len(cache) > _KEY_CACHE_LIMIT:
        cache = {}
        _key_cache_state = (current, cache)
    return cache


# Values with nothing to redact, returned as they are without a call (most of a document's
# and a log line's values are numbers, booleans and nulls).
_PLAIN = frozenset({int, float, bool, type(None)})


# Every rule's literal in lower case: where any rule could match (see `redact_fresh`).
_LITERALS = tuple(sorted({rule.literal.lower() for rule in _RULES}))


def _redact(value: Any, secrets: list[str], keys: dict[str, str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        copy: dict[Any, Any] = {}
        renamed = False
        for key, item in value.items():
            if isinstance(key, str):
                clean = keys.get(key)
                if clean is None:
                    clean = keys[key] = redact_text(key, secrets)
                if clean != key or renamed:
                    renamed = True
                    if clean in copy:
                        clean = _unused_key(clean, copy)
                key = clean
            copy[key] = item if type(item) in _PLAIN else _redact(item, secrets, keys)
        return copy
    if isinstance(value, list | tuple):
        return [item if type(item) in _PLAIN else _redact(item, secrets, keys) for item in value]
    return value


def _unused_key(key: str, taken: dict[Any, Any]) -> str:
    number = 2
    while f"{key} ({number})" in taken:
        number += 1
    return f"{key} ({number})"
