#!/usr/bin/env python3
"""Which tables and indexes the write-ahead log's frames belong to.

Usage (while a benchmark runs; BENCHMARKS.md, "Invite throughput"):

    D=$(ls -dt /tmp/switchboard-bench-* | head -1)
    mkdir -p /tmp/wal && cp "$D/switchboard.db-wal" "$D/switchboard.db" /tmp/wal/
    python3 crates/bench/scripts/wal_pages.py /tmp/wal/switchboard.db

Reads the frames of the log's current generation (those whose salts match its header), counts
them, and names each frame's page through SQLite's `dbstat` table on the database file alone
(Python's sqlite3 module has it). The copy is not atomic, so a few pages may be named after an
older layout or not at all ("unknown").
"""
import collections
import sqlite3
import struct
import sys


def frames(wal_path):
    data = open(wal_path, "rb").read()
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = struct.unpack(">IIIIIIII", data[:32])
    offset, pages, commits = 32, [], 0
    while offset + 24 + page_size <= len(data):
        page, commit_size, s1, s2 = struct.unpack(">IIII", data[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):
            break
        pages.append(page)
        commits += commit_size != 0
        offset += 24 + page_size
    return pages, commits


def main():
    db = sys.argv[1]
    pages, commits = frames(db + "-wal")
    print(f"{len(pages)} frames, {commits} commits, {len(pages) / max(commits, 1):.1f} frames per commit")
    names = dict(sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True).execute("SELECT pageno, name FROM dbstat"))
    counts = collections.Counter(names.get(p, "unknown") for p in pages)
    for name, n in counts.most_common():
        print(f"{n:8d} {100 * n / max(len(pages), 1):5.1f}%  {name}")


if __name__ == "__main__":
    main()
