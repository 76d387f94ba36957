#!/usr/bin/env python3
"""Shrinks fuzz/corpus/<target>/ to at most MAX files (default 300) keeping the most edge coverage.

`cargo fuzz cmin` keeps every file that adds a feature, often a thousand or more. This runs the
built target once in libFuzzer's merge mode to get each file's edges (the merge control file),
then keeps a greedy set cover: repeatedly the file adding the most new edges (smaller file on a
tie), until MAX files or no gain. Files `seed-*` are always kept. Build first
(`RUSTC_BOOTSTRAP=1 cargo fuzz build <target>`), run from anywhere:

    python3 fuzz/cap_corpus.py validate_request 300
"""

import os
import subprocess
import sys
import tempfile

FUZZ = os.path.dirname(os.path.abspath(__file__))


def main():
    target = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    binary = os.path.join(FUZZ, "target/x86_64-unknown-linux-gnu/release", target)
    corpus = os.path.join(FUZZ, "corpus", target)
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "control")
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        subprocess.run(
            [binary, "-merge=1", f"-merge_control_file={control}", "-use_counters=0",
             "-timeout=10", "-rss_limit_mb=2048", empty, corpus],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(control) as f:
            lines = f.read().splitlines()
    n = int(lines[0])
    names = lines[2 : 2 + n]
    cov, size = {}, {}
    for line in lines[2 + n :]:
        parts = line.split()
        if parts[0] == "STARTED":
            size[int(parts[1])] = int(parts[2])
        elif parts[0] == "COV":
            cov[int(parts[1])] = set(map(int, parts[2:]))
    total = set().union(*cov.values()) if cov else set()
    keep = {i for i, p in enumerate(names) if os.path.basename(p).startswith("seed-")}
    covered = set().union(*(cov.get(i, set()) for i in keep)) if keep else set()
    while len(keep) < limit:
        best, gain = None, 0
        for i, edges in cov.items():
            if i in keep:
                continue
            g = len(edges - covered)
            if g > gain or (g == gain and g > 0 and size.get(i, 0) < size.get(best, 0)):
                best, gain = i, g
        if best is None:
            break
        keep.add(best)
        covered |= cov[best]
    removed = 0
    for i, path in enumerate(names):
        if i not in keep and os.path.exists(path):
            os.remove(path)
            removed += 1
    print(f"{target}: kept {len(keep)} files, removed {removed}; "
          f"edges {len(covered)} of {len(total)} ({100 * len(covered) / max(len(total), 1):.1f}%)")


if __name__ == "__main__":
    main()
