"""The top costs of a py-spy profile (``python -m bench.run --py-spy FILE``, raw format).

    python -m bench.spy_top FILE [--top 25] [--match TEXT]

Inclusive share: the samples whose stack passes through the function (counted once per stack);
self share: the samples whose innermost frame is it. py-spy records only non-idle samples by
default, so the shares are shares of the worker's busy time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (to/file.py)``: lines merged, paths shortened."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = "/".join(Path(path).parts[-2:])
    return f"{match['func']} ({path})"


def top(lines: list[str], n: int, match: str | None) -> tuple[int, list[tuple[str, int, int]]]:
    """Total samples and the ``n`` functions with the most inclusive samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        # A sample with no Python frame: a native thread (the SDK core's Rust runtime).
        frames = [_name(f) for f in stack.split(";") if f] or ["(no Python frame: native threads)"]
        total += count
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
    names = [k for k in inclusive if match is None or match in k]
    names.sort(key=lambda k: -inclusive[k])
    return total, [(k, inclusive[k], own[k]) for k in names[:n]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spy_top", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default=None, help="only functions whose name or file contains this")
    args = parser.parse_args(argv)
    # split("\n"), not splitlines(): frame names may contain other line-break characters.
    total, rows = top(args.file.read_text().split("\n"), args.top, args.match)
    print(f"{total} samples")
    print("| function | inclusive % | self % |\n|---|---:|---:|")
    for name, incl, own in rows:
        print(f"| `{name}` | {100 * incl / total:.1f} | {100 * own / total:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
