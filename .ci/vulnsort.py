"""Sorts govulncheck -format json output read from stdin.

Prints nothing when no reachable vulnerability was found,
"fail: IDs" when a third-party module has one (standard-library
ones are then listed too), "stdlib: IDs" when only the standard
library has, and "error: ..." when the input cannot be read.
"""
import json
import sys

text = sys.stdin.read()
dec = json.JSONDecoder()
i, objs = 0, []
try:
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        objs.append(obj)
except ValueError as e:
    print(f"error: unreadable govulncheck output ({e})")
    sys.exit(0)

stdlib, third = set(), set()
for o in objs:
    f = o.get("finding")
    if not f or not f.get("trace"):
        continue
    top = f["trace"][0]
    if not top.get("function"):
        continue  # imported, but no vulnerable symbol is reachable
    (stdlib if top.get("module") == "stdlib" else third).add(f["osv"])
if third:
    print("fail: " + " ".join(sorted(third | stdlib)))
elif stdlib:
    print("stdlib: " + " ".join(sorted(stdlib)))
