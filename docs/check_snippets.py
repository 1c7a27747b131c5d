#!/usr/bin/env python3
"""Compiles the C examples of the guide pages, so that the documentation cannot drift from
the headers.

    check_snippets.py --compiler CC --include-dir include docs/*.md README.md

Every fenced block opened with ```c that includes <pydebug.h> and defines a function (a line
at column 0 ending with ")" followed by a line "{") is a complete translation unit, and is
compiled as C11 with -pedantic -Werror -Wall -Wextra (not linked). Fragments are listed as
skipped; other blocks (shell commands, output) are left alone. The pages are named on the command line or, for
a directory, found in it when the test runs.
"""

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

_BLOCK = re.compile(r'^```c[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
_FUNCTION = re.compile(r'^[A-Za-z_].*\)[ \t]*\n\{', re.M)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--compiler', required=True)
    parser.add_argument('--include-dir', required=True)
    parser.add_argument('pages', nargs='+')
    args = parser.parse_args()

    pages = []
    for p in map(pathlib.Path, args.pages):
        if p.is_dir():
            pages += sorted(p.glob('*.md'))
        elif p.is_file():
            pages.append(p)
    compiled = failures = 0
    with tempfile.TemporaryDirectory(prefix='pydbg-snippets-') as tmp:
        for page in pages:
            text = page.read_text(encoding='utf-8')
            for match in _BLOCK.finditer(text):
                code = match.group(1)
                if '#include <pydebug.h>' not in code:
                    continue
                line = text.count('\n', 0, match.start()) + 2
                if not _FUNCTION.search(code):
                    print(f'skip {page}:{line} (a fragment: no function definition)')
                    continue
                source = pathlib.Path(tmp) / 'snippet.c'
                # #line keeps the compiler's messages pointing into the page.
                source.write_text(f'#line {line} "{page}"\n{code}')
                command = [args.compiler, '-std=c11', '-pedantic', '-Werror', '-Wall', '-Wextra',
                           '-Wno-unused-function', '-I', args.include_dir,
                           '-c', str(source), '-o', str(pathlib.Path(tmp) / 'snippet.o')]
                result = subprocess.run(command, capture_output=True, text=True)
                compiled += 1
                if result.returncode != 0:
                    failures += 1
                    print(f'FAIL {page}:{line}\n{result.stdout}{result.stderr}')
                else:
                    print(f'ok   {page}:{line}')
    print(f'{compiled - failures}/{compiled} examples compile')
    if compiled == 0:
        print('no example found: the pattern or the pages moved?')
        return 1
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
