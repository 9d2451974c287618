#!/usr/bin/env python3
"""Rename one file back and forth between two names, many times (run two at once)."""
import os, sys
d, n, flip = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
a, b = os.path.join(d, "a"), os.path.join(d, "b")
done = 0
for i in range(n):
    src, dst = (a, b) if (i % 2 == 0) != flip else (b, a)
    try:
        os.rename(src, dst)
        done += 1
    except FileNotFoundError:
        pass
print(done)
