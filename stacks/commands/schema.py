from __future__ import annotations

import json
from pathlib import Path

from stacks.profile import json_schema


def render() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def run(output: Path) -> int:
    text = render()
    if str(output) == "-":
        print(text, end="")
        return 0
    tmp = output.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)  # atomic: an editor never reads a half-written schema
    print(f"wrote {output}")
    return 0
