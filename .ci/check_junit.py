"""Fail CI when any test was skipped or none ran: every suite must run here."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    skipped = []
    for case in root.iter("testcase"):
        if case.find("skipped") is not None:
            skipped.append(f"{case.get('classname')}::{case.get('name')}")
    if total == 0:
        print("ci: no test ran", file=sys.stderr)
        return 1
    if skipped:
        print(f"ci: {len(skipped)} test(s) were skipped; every suite must run in CI:", file=sys.stderr)
        for name in skipped[:50]:
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"ci: {total} tests ran, none skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
