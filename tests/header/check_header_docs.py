#!/usr/bin/env python3
"""Every public function's comment states what the house style says it must.

    check_header_docs.py --include-dir include

Doxygen (the docs_no_warnings test) checks that declarations are documented and that the
documentation is well formed; this checks two promises of the API contract that it cannot:
- thread safety is stated on every function ("Thread-safe", "Not thread-safe for ...");
- a function that returns a pointer says how long it stays valid ("valid until ...",
  "valid as long as ...", a "static" string, or that the caller frees it).
The headers are read when the test runs, so a new header is checked at once.
"""

import argparse
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import public_api  # noqa: E402

_LIFETIME = re.compile(r'valid until|valid as long as|\bstatic\b|free it with|caller frees|'
                       r'caller owns|must be freed', re.I)


def plain(doc):
    """The comment's words: decorations removed, whitespace collapsed."""
    doc = re.sub(r'^\s*/\*\*|\*/\s*$', ' ', doc)
    doc = re.sub(r'(?m)^\s*\*', ' ', doc)
    return ' '.join(doc.split())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--include-dir', required=True)
    args = parser.parse_args()

    problems = []
    decls = [d for d in public_api.declarations(args.include_dir) if d.kind == 'function']
    for d in decls:
        where = f'{d.header}:{d.line}: {d.name}()'
        if d.doc is None:
            problems.append(f'{where} has no /** */ comment right before it')
            continue
        doc = plain(d.doc)
        if 'thread-safe' not in doc.lower() and 'thread safe' not in doc.lower():
            problems.append(f'{where}: thread safety is not stated '
                            '("@note Thread-safe." or "@note Not thread-safe for ...")')
        if d.returns_pointer and not _LIFETIME.search(doc):
            problems.append(f'{where} returns a pointer but does not say how long it is valid '
                            '("valid until ...", "a static string", or who frees it)')
    for p in problems:
        print(p)
    print(f'{len(decls)} public functions, {len(problems)} documentation problem(s)')
    return 1 if problems or not decls else 0


if __name__ == '__main__':
    sys.exit(main())
