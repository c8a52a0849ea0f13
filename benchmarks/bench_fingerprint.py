"""Cost of covering every image in a dataset's content key (`scenes.files.file_hashes`).

Times, on N files of S bytes: the first fingerprint (every file hashed, the index written), a repeat
with nothing changed (one stat per file), and a repeat after editing 1% of the files; the peer is
what a key without an index must do each time: read and sha256 every file.

    python benchmarks/bench_fingerprint.py --files 100000 --size 4096
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file (a 64 px PNG is ~3-5 KB; a COCO JPEG ~160 KB)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SPATIALPROBE_CACHE"] = f"{tmp}/cache"
        from spatialprobe.scenes.files import file_hashes

        root = Path(tmp, "data")
        paths = [f"images/{i // 1000:03d}/{i:06d}.png" for i in range(args.files)]
        for rel in paths:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(os.urandom(args.size))

        def peer():
            for rel in paths:
                hashlib.sha256((root / rel).read_bytes()).hexdigest()

        start = time.perf_counter()
        file_hashes(root, paths)
        first = time.perf_counter() - start
        unchanged = timed(lambda: file_hashes(root, paths), args.repeats)
        for rel in paths[:: 100]:
            (root / rel).write_bytes(os.urandom(args.size))
        start = time.perf_counter()
        file_hashes(root, paths)
        edited = time.perf_counter() - start
        full = timed(peer, args.repeats)
    print(f"{args.files} files of {args.size} B: first fingerprint {first:.2f} s, unchanged {unchanged:.2f} s, "
          f"1% edited {edited:.2f} s; peer (read + sha256 every file) {full:.2f} s → {full / unchanged:.1f}× faster when nothing changed")


if __name__ == "__main__":
    main()
