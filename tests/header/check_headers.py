#!/usr/bin/env python3
"""Compiles the public headers the way users will: alone, strictly, as C and as C++.

    check_headers.py --compiler CC --lang c|c++ --std STD --include-dir DIR
                     [--usage FILE] [--nm NM] [--flag=-Wfoo ...]

For the headers found under DIR *now* (not at configure time, so that a new header is
checked as soon as it exists):

1. each header is the only include of a translation unit, twice (self-contained, guarded);
2. the usage file, if given, compiles (macros and compile-time promises, tests/header/usage.c);
3. a translation unit that includes only <pydebug.h> takes the address of every PYDBG_API
   declaration of every header: the umbrella header must reach all of them. With --nm the
   object is inspected: every one must be referenced under its plain C name, so that in C++
   a declaration outside PYDBG_BEGIN_DECLS/PYDBG_END_DECLS (a mangled name) is caught.

Everything is compiled with -pedantic -Werror -Wall -Wextra and the extra --flag options.
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import public_api  # noqa: E402


def compile_tu(args, source, obj, lang_flags):
    command = ([args.compiler, f'-std={args.std}', '-pedantic', '-Werror', '-Wall', '-Wextra']
               + args.flag + lang_flags + ['-I', args.include_dir, '-c', str(source), '-o', str(obj)])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f'FAILED: {" ".join(command)}\n{result.stdout}{result.stderr}')
        return False
    return True


def undefined_symbols(nm, obj):
    out = subprocess.run([nm, '--undefined-only', '--no-sort', str(obj)],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--compiler', required=True)
    parser.add_argument('--lang', choices=['c', 'c++'], required=True)
    parser.add_argument('--std', required=True)
    parser.add_argument('--include-dir', required=True)
    parser.add_argument('--usage')
    parser.add_argument('--nm')
    parser.add_argument('--flag', action='append', default=[])
    args = parser.parse_args()

    include_dir = pathlib.Path(args.include_dir)
    headers = public_api.headers(include_dir)
    if not any(h.name == 'pydebug.h' and h.parent == include_dir for h in headers):
        print(f'no pydebug.h in {include_dir}')
        return 1
    lang_flags = ['-x', args.lang]
    if args.lang == 'c':
        lang_flags += ['-Wstrict-prototypes', '-Wmissing-prototypes']
    failures = 0
    checked = 0

    with tempfile.TemporaryDirectory(prefix='pydbg-header-') as tmp:
        tmp = pathlib.Path(tmp)
        obj = tmp / 'tu.o'

        # 1. Each header alone. The extern declaration keeps the unit non-empty for
        # headers that only define macros (ISO C forbids an empty translation unit).
        for header in headers:
            rel = header.relative_to(include_dir).as_posix()
            source = tmp / 'alone.c'
            source.write_text(f'#include <{rel}>\n#include <{rel}>\n'
                              'extern int pydbg_header_test_nonempty;\n')
            ok = compile_tu(args, source, obj, lang_flags)
            failures += not ok
            checked += 1
            print(f'{"ok  " if ok else "FAIL"} {rel} alone')

        # 2. What users write.
        if args.usage:
            ok = compile_tu(args, pathlib.Path(args.usage), obj, lang_flags)
            failures += not ok
            checked += 1
            print(f'{"ok  " if ok else "FAIL"} {pathlib.Path(args.usage).name}')

        # 3. Everything through the umbrella header, with C linkage.
        decls = public_api.declarations(include_dir)
        if not decls:
            print('no PYDBG_API declaration found in the headers')
            return 1
        cast = ('reinterpret_cast<pydbg_ht_any_fn>' if args.lang == 'c++'
                else '(pydbg_ht_any_fn)')
        lines = ['#include <pydebug.h>', 'typedef void (*pydbg_ht_any_fn)(void);',
                 'extern pydbg_ht_any_fn pydbg_ht_functions[];',
                 'extern const void *pydbg_ht_objects[];',
                 'pydbg_ht_any_fn pydbg_ht_functions[] = {']
        lines += [f'    {cast}(&{d.name}),' for d in decls if d.kind == 'function']
        lines += ['    0', '};', 'const void *pydbg_ht_objects[] = {']
        lines += [f'    &{d.name},' for d in decls if d.kind == 'object']
        lines += ['    0', '};']
        source = tmp / 'all_api.c'
        source.write_text('\n'.join(lines) + '\n')
        ok = compile_tu(args, source, obj, lang_flags)
        if ok and args.nm:
            referenced = undefined_symbols(args.nm, obj)
            missing = sorted(d.name for d in decls if d.name not in referenced)
            mangled = sorted(s for s in referenced if s.startswith('_Z') and 'pydbg' in s)
            for name in missing:
                print(f'{name} is not referenced under its C name (not in an extern "C" block?)')
            for name in mangled:
                print(f'{name}: a public declaration with C++ linkage')
            ok = not missing and not mangled
        failures += not ok
        checked += 1
        print(f'{"ok  " if ok else "FAIL"} pydebug.h declares all {len(decls)} PYDBG_API names'
              + (' with C linkage' if args.nm else ''))

    print(f'{checked - failures}/{checked} checks passed ({args.compiler} -std={args.std})')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
