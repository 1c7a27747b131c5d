#!/usr/bin/env python3
"""The public ABI of libpydebug against the committed baseline (see docs/abi.md).

    abi_check.py check --library libpydebug.so.1 --include-dir include --version 1.0.0
                       [--baseline-dir abi] [--compiler cc]
    abi_check.py constants --include-dir include --compiler cc      (prints the constants)
    abi_check.py self-test --compiler cc

`check` passes on pure additions and fails on anything else:
1. abidiff (libabigail) compares the library, read with its DWARF, to abi/libpydebug.abi.
   Its exit status has a bit for "incompatible change" (8, e.g. a removed symbol) and one
   for "some change" (4), which additions set too; so the report is read: any removed or
   changed function or variable fails, and so does a changed SONAME. Types are those of the
   public headers only. Appending a field to an options structure (`pydbg_*_options`,
   guarded by its struct_size) is the one type change allowed (abi/suppressions.abignore).
2. Every added function must carry the version node of the current minor release,
   PYDEBUG_<major>.<minor> (from --version).
3. The constants a caller compiles in, which no symbol carries: every enumerator and
   integer macro of the public headers keeps its value, every field of a public structure
   its offset, and no structure shrinks (abi/constants.txt). New ones may be added.

`self-test` builds small libraries that each make one kind of change and checks that the
verdict is the right one, so that a checker that cannot fail does not pass for a test.
"""

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


class Failure(Exception):
    pass


def run(command, check=True, **kwargs):
    result = subprocess.run([str(c) for c in command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, **kwargs)
    if check and result.returncode != 0:
        raise Failure('%s failed (%d):\n%s%s' % (' '.join(str(c) for c in command),
                                                 result.returncode, result.stdout,
                                                 result.stderr))
    return result


def tool(name):
    path = shutil.which(name)
    if not path:
        raise Failure('%s not found: run .ci/install-deps (Debian package abigail-tools)' % name)
    return path


# --- 1 and 2: functions and types, with abidiff -------------------------------------------

_SUMMARY = re.compile(r'^(Functions|Variables|Function symbols|Variable symbols) changes '
                      r'summary: (\d+) Removed(?:, (\d+) Changed)?.*?, (\d+) Added', re.M)
_ADDED = re.compile(r"^\s*\[A\] '.*?'\s+\{([\w.]+)@@?([\w.]+)\}", re.M)


def abidw_command(library, include_dir):
    # Short locations: the baseline must not depend on where it was built, and without any
    # location abidiff cannot tell that a type comes from the public headers.
    return [tool('abidw'), '--short-locs', '--no-corpus-path', '--drop-private-types',
            '--type-id-style', 'hash', '--headers-dir', include_dir, library]


def has_debug_info(library):
    sections = run(['readelf', '-S', '-W', library]).stdout
    return '.debug_info' in sections


def abidiff_verdict(baseline, library, include_dir, suppressions, node):
    """Returns (problems, added names, report)."""
    result = run([tool('abidiff'), '--no-show-locs', '--drop-private-types',
                  '--headers-dir2', include_dir, '--suppressions', suppressions,
                  baseline, library], check=False)
    report = result.stdout + result.stderr
    rc = result.returncode
    problems = []
    if rc & 3:
        raise Failure('abidiff could not compare (exit %d):\n%s' % (rc, report))
    if rc & 8:
        problems.append('abidiff reports an incompatible change (exit bit 8)')
    summaries = _SUMMARY.findall(report)
    if rc & 4 and not summaries:
        problems.append('abidiff reports a change this check cannot classify')
    for what, removed, changed, _added in summaries:
        if int(removed):
            problems.append('%s %s removed' % (removed, what.lower()))
        if changed and int(changed):
            problems.append('%s %s changed' % (changed, what.lower()))
    if re.search(r'^SONAME changed', report, re.M):
        problems.append('the SONAME changed')
    if re.search(r'^architecture changed', report, re.M):
        problems.append('the architecture changed')
    added = _ADDED.findall(report)
    for name, version in added:
        if version != node:
            problems.append('%s was added in version node %s; new functions go in %s '
                            '(the current minor release)' % (name, version, node))
    return problems, [name for name, _ in added], report


# --- 3: constants ---------------------------------------------------------------------------

def _strip_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


# Macros that are not ABI: the version of the headers themselves, plumbing, initialisers.
_NOT_ABI = re.compile(r'^PYDBG_(VERSION_(MAJOR|MINOR|RELEASE|NUMBER|STRING)|API|BEGIN_DECLS|'
                      r'END_DECLS|STRINGIFY_?|ERROR_LIST)$|_INIT$')


def header_items(include_dir):
    """(enumerators, integer macros, {struct: [fields]}) of the public headers."""
    enumerators, macros, structs = [], [], {}
    for header in sorted(pathlib.Path(include_dir).rglob('*.h')):
        text = header.read_text(encoding='utf-8')
        code = _strip_comments(text)
        for body in re.findall(r'\benum\b[^{;]*\{(.*?)\}', code, re.S):
            for item in body.split(','):
                m = re.match(r'\s*([A-Za-z_]\w*)', item)
                if m:
                    enumerators.append(m.group(1))
        joined = re.sub(r'\\\n', ' ', code)
        for name, value in re.findall(r'^[ \t]*#[ \t]*define[ \t]+(PYDBG_\w+)[ \t]+(.+)$',
                                      joined, re.M):
            if _NOT_ABI.search(name) or re.search(r'["{}#]', value):
                continue
            macros.append(name)
        for name, body, alias in re.findall(r'typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;',
                                            code, re.S):
            fields = re.findall(r'(\w+)\s*(?:\[[^\]]*\])?\s*(?::\s*\d+)?\s*;', body)
            structs[alias] = fields
    return enumerators, macros, structs


def constants(include_dir, compiler):
    """Lines 'enum NAME VALUE', 'macro NAME VALUE', 'offset S.F N', 'size S N', sorted."""
    enumerators, macros, structs = header_items(include_dir)
    # Each header of pydebug/ rather than the umbrella: a baseline of a commit may be taken
    # while the umbrella already names a header that is not committed yet.
    headers = sorted(p.relative_to(include_dir).as_posix()
                     for p in pathlib.Path(include_dir).glob('pydebug/*.h')) or ['pydebug.h']
    lines = ['#include <stddef.h>', '#include <stdio.h>']
    lines += ['#include <%s>' % h for h in headers] + ['int main(void)', '{']
    for kind, names in (('enum', enumerators), ('macro', macros)):
        for n in names:
            lines.append('    printf("%s %s %%lld\\n", (long long)(%s));' % (kind, n, n))
    for s, fields in sorted(structs.items()):
        lines.append('    printf("size %s %%zu\\n", sizeof(%s));' % (s, s))
        for f in fields:
            lines.append('    printf("offset %s.%s %%zu\\n", offsetof(%s, %s));' % (s, f, s, f))
    lines += ['    return 0;', '}']
    with tempfile.TemporaryDirectory(prefix='pydbg-abi-') as tmp:
        source = pathlib.Path(tmp) / 'probe.c'
        source.write_text('\n'.join(lines) + '\n', encoding='utf-8')
        exe = pathlib.Path(tmp) / 'probe'
        run([compiler, '-std=c11', '-I', include_dir, source, '-o', exe])
        return sorted(set(run([exe]).stdout.splitlines()))


def constants_verdict(baseline_lines, current_lines):
    problems = []
    current = set(current_lines)
    sizes = {}
    for line in current_lines:
        parts = line.split()
        if parts[0] == 'size':
            sizes[parts[1]] = int(parts[2])
    for line in baseline_lines:
        parts = line.split()
        if not parts or line.startswith('#'):
            continue
        if parts[0] == 'size':
            if parts[1] not in sizes:
                problems.append('structure %s is gone' % parts[1])
            elif sizes[parts[1]] < int(parts[2]):
                problems.append('structure %s shrank from %s to %d bytes' % (parts[1], parts[2],
                                                                            sizes[parts[1]]))
        elif line not in current:
            now = [c for c in current_lines if c.split()[:2] == parts[:2]]
            problems.append('%s %s was %s, is now %s' % (parts[0], parts[1], parts[2],
                                                        now[0].split()[2] if now else 'gone'))
    return problems


# --- the commands ---------------------------------------------------------------------------

def node_of(version):
    major, minor = version.split('.')[:2]
    return 'PYDEBUG_%s.%s' % (major, minor)


def debug_build(args):
    """Builds the library of the same sources with -g, for a build that has no DWARF."""
    print('%s has no debug information: building the library again with -g in %s'
          % (args.library, args.work_dir))
    cmake = args.cmake or tool('cmake')
    run([cmake, '-S', args.source_dir, '-B', args.work_dir, '-DCMAKE_BUILD_TYPE=Debug',
         '-DBUILD_TESTING=OFF', '-DPYDEBUG_BUILD_CLI=OFF', '-DPYDEBUG_BUILD_EXAMPLES=OFF',
         '-DPYDEBUG_BUILD_BENCH=OFF', '-DPYDEBUG_BUILD_DOCS=OFF',
         '-DCMAKE_C_COMPILER=' + args.compiler])
    run([cmake, '--build', args.work_dir, '--target', 'pydebug', '--parallel', '4'])
    found = sorted(pathlib.Path(args.work_dir).rglob('libpydebug.so.*.*'))
    if not found:
        raise Failure('the -g build produced no libpydebug.so')
    return str(found[0])


def check(args):
    baseline_dir = pathlib.Path(args.baseline_dir)
    library = args.library
    if not has_debug_info(library):
        if not (args.source_dir and args.work_dir):
            raise Failure('%s has no debug information (DWARF), so its types cannot be '
                          'compared; build with -g (CMAKE_BUILD_TYPE=Debug or RelWithDebInfo)'
                          % library)
        library = debug_build(args)
    problems, added, report = abidiff_verdict(baseline_dir / 'libpydebug.abi', library,
                                              args.include_dir,
                                              baseline_dir / 'suppressions.abignore',
                                              node_of(args.version))
    print(report.rstrip())
    baseline_constants = (baseline_dir / 'constants.txt').read_text(encoding='utf-8')
    current = constants(args.include_dir, args.compiler)
    problems += constants_verdict(baseline_constants.splitlines(), current)
    if problems:
        print('\nFAIL: incompatible ABI change:\n  ' + '\n  '.join(problems))
        print('\nIf the change is intended, follow docs/abi.md (a break needs a new SONAME; '
              'then abi/update-baseline).')
        return 1
    known = sum(1 for line in baseline_constants.splitlines() if line and line[0] != '#')
    print('\nABI compatible with the baseline: %d function(s) added%s; %d constants unchanged'
          % (len(added), (' (%s)' % ', '.join(added)) if added else '', known))
    return 0


def self_test(args):
    """Each case: (header, source, version script, expected verdict)."""
    base_h = ('#include <stdint.h>\n'
              'typedef struct pydbg_t_options { uint32_t struct_size; uint32_t flags; } pydbg_t_options;\n'
              'enum t_codes { T_OK = 0, T_EBAD = -1 };\n'
              '#define PYDBG_T_LIMIT 100\n'
              'int t_run(int x, const pydbg_t_options *o);\n')
    base_c = ('#include "t.h"\n#define API __attribute__((visibility("default")))\n'
              'API int t_run(int x, const pydbg_t_options *o) { return x + (int)o->flags; }\n')
    base_map = 'PYDEBUG_1.0 { global: t_run; local: *; };\n'
    add_fn = ('int t_more(void);\n', 'API int t_more(void) { return 1; }\n')
    cases = [
        ('unchanged', base_h, base_c, base_map, True),
        ('a function added to the current node', base_h + add_fn[0], base_c + add_fn[1],
         'PYDEBUG_1.0 { global: t_run; t_more; local: *; };\n', True),
        ('a function added to a new node', base_h + add_fn[0], base_c + add_fn[1],
         'PYDEBUG_1.0 { global: t_run; local: *; };\n'
         'PYDEBUG_1.1 { global: t_more; } PYDEBUG_1.0;\n', False),
        ('a field appended to an options structure',
         base_h.replace('uint32_t flags; }', 'uint32_t flags; uint32_t more; }'),
         base_c, base_map, True),
        ('a function removed', base_h + add_fn[0], base_c.replace('API int t_run', 'int t_run') + add_fn[1],
         'PYDEBUG_1.0 { global: t_more; local: *; };\n', False),
        ('a parameter type changed', base_h.replace('int x,', 'long x,'),
         base_c.replace('int x,', 'long x,'), base_map, False),
        ('a field inserted in the middle',
         base_h.replace('uint32_t flags; }', 'uint32_t more; uint32_t flags; }'),
         base_c, base_map, False),
        ('a function moved to another node', base_h, base_c,
         'PYDEBUG_1.1 { global: t_run; local: *; };\n', False),
        ('an error code renumbered', base_h.replace('T_EBAD = -1', 'T_EBAD = -2'), base_c,
         base_map, False),
        ('a macro changed', base_h.replace('LIMIT 100', 'LIMIT 50'), base_c, base_map, False),
        ('an error code added', base_h.replace('T_EBAD = -1', 'T_EBAD = -1, T_ENEW = -2'),
         base_c, base_map, True),
    ]
    failures = 0
    with tempfile.TemporaryDirectory(prefix='pydbg-abi-selftest-') as tmp:
        tmp = pathlib.Path(tmp)

        def build(name, header, source, script):
            d = tmp / name
            (d / 'include').mkdir(parents=True)
            # The constants probe includes <pydebug.h>: the test header stands in for it.
            (d / 'include' / 't.h').write_text(header)
            (d / 'include' / 'pydebug.h').write_text('#include "t.h"\n')
            (d / 't.c').write_text(source)
            (d / 't.map').write_text(script)
            lib = d / 'libt.so.1'
            run([args.compiler, '-g', '-shared', '-fPIC', '-fvisibility=hidden',
                 '-I', d / 'include', '-Wl,--version-script=' + str(d / 't.map'),
                 '-Wl,-soname,libt.so.1', d / 't.c', '-o', lib])
            return d, lib

        base, base_lib = build('base', base_h, base_c, base_map)
        abi = tmp / 'base.abi'
        abi.write_text(run(abidw_command(base_lib, base / 'include')).stdout)
        base_constants = constants(base / 'include', args.compiler)
        for i, (label, header, source, script, compatible) in enumerate(cases):
            d, lib = build('case%d' % i, header, source, script)
            problems, _, _ = abidiff_verdict(abi, lib, d / 'include',
                                             HERE / 'suppressions.abignore', 'PYDEBUG_1.0')
            problems += constants_verdict(base_constants, constants(d / 'include',
                                                                    args.compiler))
            ok = (not problems) == compatible
            failures += not ok
            print('%s %-42s -> %s' % ('ok  ' if ok else 'FAIL', label,
                                      'compatible' if not problems else '; '.join(problems)))
    print('%d/%d self-test cases give the right verdict' % (len(cases) - failures, len(cases)))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command')
    p = sub.add_parser('check')
    p.add_argument('--library', required=True)
    p.add_argument('--include-dir', required=True)
    p.add_argument('--version', required=True, help='the project version, X.Y.Z')
    p.add_argument('--baseline-dir', default=str(HERE))
    p.add_argument('--compiler', default='cc')
    p.add_argument('--source-dir', help='with --work-dir: rebuild with -g if LIBRARY has no DWARF')
    p.add_argument('--work-dir')
    p.add_argument('--cmake')
    p = sub.add_parser('constants')
    p.add_argument('--include-dir', required=True)
    p.add_argument('--compiler', default='cc')
    p = sub.add_parser('self-test')
    p.add_argument('--compiler', default='cc')
    args = parser.parse_args()
    try:
        if args.command == 'check':
            return check(args)
        if args.command == 'constants':
            print('\n'.join(constants(args.include_dir, args.compiler)))
            return 0
        if args.command == 'self-test':
            return self_test(args)
    except Failure as e:
        print('FAIL: %s' % e)
        return 1
    parser.error('which command?')
    return 2


if __name__ == '__main__':
    sys.exit(main())
