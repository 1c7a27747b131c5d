#!/usr/bin/env python3
"""The exported ABI of libpydebug.so is exactly the API the headers declare.

    test_exports.py --library libpydebug.so.1.0.0 --include-dir include --map lib/libpydebug.map
    test_exports.py --self-test --compiler cc

Checks, reading the library with readelf:
- its SONAME is libpydebug.so.<major> (--soname, libpydebug.so.1 by default);
- the set of defined dynamic symbols equals the set of PYDBG_API declarations in
  include/**/*.h (read when the test runs, so new headers count at once): nothing missing,
  nothing else (no pydbg__ internal, no libc or helper function leaking out);
- every exported symbol has a default version (name@@NODE), NODE is the node that lists it
  in the version script, and the node belongs to this major version (PYDEBUG_<major>.<n>);
- the version script lists each name once, by name (no wildcard under global:), and lists
  only declared names; functions are exported as functions, variables as objects.

--self-test links small libraries that break each rule in turn and checks that the checker
reports exactly that, so that a checker that cannot fail does not pass for a real test.
"""

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / 'header'))
import public_api  # noqa: E402

_SYMBOL = re.compile(r'^\s*\d+:\s+([0-9a-fA-F]+)\s+(\S+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)\s+(\S+)')


def read_version_script(path):
    """{node: [names]} in file order, and the list of problems found in the script."""
    text = pathlib.Path(path).read_text(encoding='utf-8')
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'#[^\n]*', ' ', text)
    nodes, problems, seen = {}, [], {}
    for match in re.finditer(r'([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([\w.]*)\s*;', text, re.S):
        node, body = match.group(1), match.group(2)
        names = []
        section = 'global'
        for item in (i.strip() for i in body.split(';')):
            while True:
                label = re.match(r'(global|local)\s*:\s*', item)
                if not label:
                    break
                section, item = label.group(1), item[label.end():].strip()
            if not item or section == 'local':
                continue
            if re.search(r'[*?\[]', item):
                problems.append(f'version script: wildcard "{item}" under global: in {node} '
                                '(list every exported name)')
                continue
            if item in seen:
                problems.append(f'version script: {item} is listed in {seen[item]} and in {node}')
            seen[item] = node
            names.append(item)
        nodes[node] = names
    if not nodes:
        problems.append(f'version script {path}: no version node found')
    return nodes, problems


def read_library(readelf, library):
    """(soname, {name: (version or None, type)}, set of version-definition names)."""
    dynamic = subprocess.run([readelf, '-d', '-W', str(library)], capture_output=True,
                             text=True, check=True).stdout
    soname = re.search(r'\(SONAME\).*\[(.*)\]', dynamic)
    syms = subprocess.run([readelf, '--dyn-syms', '-W', str(library)], capture_output=True,
                          text=True, check=True).stdout
    exported, version_defs = {}, set()
    for line in syms.splitlines():
        m = _SYMBOL.match(line)
        if not m:
            continue
        kind, bind, vis, ndx, raw = m.group(3), m.group(4), m.group(5), m.group(6), m.group(7)
        if ndx == 'UND' or bind == 'LOCAL' or vis in ('HIDDEN', 'INTERNAL'):
            continue
        name, _, version = raw.partition('@')
        version = version.lstrip('@') or None
        if ndx == 'ABS' and kind == 'OBJECT' and (version is None or version == name):
            # The symbol ld defines for each version node (e.g. PYDEBUG_1.0) itself.
            version_defs.add(name)
            continue
        if raw.count('@') == 1:
            # name@NODE (a single @) is a hidden, non-default version: not linkable by name.
            version = f'(non-default) {version}'
        exported[name] = (version, kind)
    return (soname.group(1) if soname else None), exported, version_defs


def check(library, include_dir, version_script, soname, readelf):
    """The list of problems; empty when the library exports exactly the declared API."""
    problems = []
    declared = {d.name: d for d in public_api.declarations(include_dir)}
    nodes, script_problems = read_version_script(version_script)
    problems += script_problems
    node_of = {name: node for node, names in nodes.items() for name in names}
    actual_soname, exported, version_defs = read_library(readelf, library)

    if actual_soname != soname:
        problems.append(f'SONAME is {actual_soname!r}, expected {soname!r}')
    major = soname.rsplit('.so.', 1)[-1]
    for node in nodes:
        if not re.fullmatch(rf'PYDEBUG_{re.escape(major)}\.\d+', node):
            problems.append(f'version node {node} does not belong to {soname} '
                            f'(expected PYDEBUG_{major}.<minor>)')
    for node in sorted(version_defs - set(nodes)):
        problems.append(f'the library defines version {node}, which the version script lacks')

    for name in sorted(set(declared) - set(exported)):
        d = declared[name]
        hint = ('it is not listed in the version script' if name not in node_of
                else 'it is not defined in the library, or not with default visibility')
        problems.append(f'{d.header}:{d.line}: {name} is declared PYDBG_API but not exported '
                        f'({hint})')
    for name in sorted(set(exported) - set(declared)):
        what = ('an internal function' if name.startswith('pydbg__') else
                'a name without the pydbg_ prefix' if not name.startswith('pydbg_') else
                'a name no public header declares')
        problems.append(f'{name} is exported but not declared with PYDBG_API ({what}; '
                        'give it static or hidden visibility, or declare it)')
    for name in sorted(set(exported) & set(declared)):
        version, kind = exported[name]
        if version is None:
            problems.append(f'{name} is exported without a symbol version')
        elif name not in node_of:
            problems.append(f'{name} carries version {version}, but the version script does '
                            'not list it by name')
        elif version != node_of[name]:
            problems.append(f'{name} carries version {version}, but the version script lists '
                            f'it under {node_of[name]}')
        want = ('FUNC', 'IFUNC') if declared[name].kind == 'function' else ('OBJECT', 'TLS')
        if kind not in want:
            problems.append(f'{name} is declared as a {declared[name].kind} '
                            f'but exported as {kind}')
    for name in sorted(set(node_of) - set(declared)):
        problems.append(f'{pathlib.Path(version_script).name}: {name} (in {node_of[name]}) '
                        'is declared in no public header')
    return problems


# --- self-test -----------------------------------------------------------------------------

_HEADER = '''/** @file pydebug.h */
#ifndef PYDEBUG_H
#define PYDEBUG_H
#define PYDBG_API
/* PYDBG_API int pydbg_in_a_comment(void); */
PYDBG_API int pydbg_open(int flags);
PYDBG_API const char *
    pydbg_name(const void *handle,
               int index);
PYDBG_API extern int pydbg_counter;
#endif
'''
_SOURCE = '''#define API __attribute__((visibility("default")))
API int pydbg_open(int flags) { return flags; }
API const char *pydbg_name(const void *handle, int index) { return handle ? "x" : index ? "y" : 0; }
API int pydbg_counter;
/* Internals marked for export by mistake: only the version script's local: * hides them. */
API int pydbg__internal(void);
API int pydbg__internal(void) { return 1; }
API int helper(void);
API int helper(void) { return 2; }
'''
_GOOD_MAP = '''PYDEBUG_1.0 { global: pydbg_open; pydbg_counter; local: *; };
PYDEBUG_1.1 { global: pydbg_name; } PYDEBUG_1.0;
'''


def self_test(compiler, readelf):
    cases = [
        # (what, version script or None, soname, extra header text, expected problems)
        ('a conforming library', _GOOD_MAP, 'libpydebug.so.1', '', []),
        ('internals and helpers leak (no local: *)',
         _GOOD_MAP.replace(' local: *;', ''), 'libpydebug.so.1', '',
         ['helper is exported but not declared', 'pydbg__internal is exported but not declared']),
        ('a declared function missing from the version script',
         _GOOD_MAP.replace(' pydbg_counter;', ''), 'libpydebug.so.1', '',
         ['pydbg_counter is declared PYDBG_API but not exported (it is not listed']),
        ('a declared function the library does not define',
         _GOOD_MAP.replace('pydbg_open;', 'pydbg_open; pydbg_close;'), 'libpydebug.so.1',
         'PYDBG_API void pydbg_close(void *h);\n',
         ['pydbg_close is declared PYDBG_API but not exported (it is not defined']),
        ('a listed name no header declares',
         _GOOD_MAP.replace('pydbg_name;', 'pydbg_name; pydbg_gone;'), 'libpydebug.so.1', '',
         ['pydbg_gone (in PYDEBUG_1.1) is declared in no public header']),
        ('the wrong SONAME', _GOOD_MAP, 'libpydebug.so.2', '',
         ["SONAME is 'libpydebug.so.2', expected 'libpydebug.so.1'"]),
        ('no version script at all', None, 'libpydebug.so.1', '',
         ['helper is exported but not declared', 'pydbg__internal is exported but not declared',
          'pydbg_counter is exported without a symbol version',
          'pydbg_name is exported without a symbol version',
          'pydbg_open is exported without a symbol version']),
        ('a node of another major version',
         _GOOD_MAP.replace('PYDEBUG_1.1', 'PYDEBUG_2.0'), 'libpydebug.so.1', '',
         ['version node PYDEBUG_2.0 does not belong to libpydebug.so.1']),
        ('a wildcard under global:',
         _GOOD_MAP.replace('pydbg_name;', 'pydbg_n*;'), 'libpydebug.so.1', '',
         ['wildcard "pydbg_n*" under global: in PYDEBUG_1.1',
          'pydbg_name carries version PYDEBUG_1.1, but the version script does not list it']),
    ]
    failures = 0
    with tempfile.TemporaryDirectory(prefix='pydbg-exports-') as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / 'src.c').write_text(_SOURCE)
        for what, script, soname, extra, expected in cases:
            include = tmp / 'include'
            shutil.rmtree(include, ignore_errors=True)
            include.mkdir()
            (include / 'pydebug.h').write_text(_HEADER.replace('#endif', extra + '#endif'))
            lib = tmp / 'libpydebug.so'
            command = [compiler, '-shared', '-fPIC', '-fvisibility=hidden', '-o', str(lib),
                       str(tmp / 'src.c'), f'-Wl,-soname,{soname}']
            map_path = tmp / 'libpydebug.map'
            map_path.write_text(script if script is not None else _GOOD_MAP)
            if script is not None:
                command.append(f'-Wl,--version-script={map_path}')
            subprocess.run(command, check=True)
            got = check(lib, include, map_path, 'libpydebug.so.1', readelf)
            unmatched = [e for e in expected if not any(e in g for g in got)]
            unexpected = [g for g in got if not any(e in g for e in expected)]
            ok = not unmatched and not unexpected
            failures += not ok
            print(f'{"ok  " if ok else "FAIL"} {what}')
            for e in unmatched:
                print(f'     expected, not reported: {e}')
            for g in unexpected:
                print(f'     reported, not expected: {g}')
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--library')
    parser.add_argument('--include-dir')
    parser.add_argument('--map')
    parser.add_argument('--soname', default='libpydebug.so.1')
    parser.add_argument('--readelf', default='readelf')
    parser.add_argument('--self-test', action='store_true')
    parser.add_argument('--compiler', default='cc')
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.compiler, args.readelf)
    if not (args.library and args.include_dir and args.map):
        parser.error('--library, --include-dir and --map are required')

    if not pathlib.Path(args.library).is_file():
        print(f'{args.library} does not exist: build the pydebug target first')
        return 1
    problems = check(args.library, args.include_dir, args.map, args.soname, args.readelf)
    declared = public_api.declarations(args.include_dir)
    for p in problems:
        print(p)
    print(f'{len(declared)} PYDBG_API declarations; '
          f'{"OK" if not problems else f"{len(problems)} problem(s)"}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
