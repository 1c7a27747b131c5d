#!/usr/bin/env python3
"""Consumer tests: use an installed libpydebug the way its users do.

    run_consumer.py --prefix P --work W install --build-dir B --cmake CMAKE
    run_consumer.py --prefix P --work W pkgconfig --cc CC [--static]
    run_consumer.py --prefix P --work W cmake --cmake CMAKE --cc CC
    run_consumer.py --prefix P --work W rust --source bindings/rust [--cargo CARGO]
    run_consumer.py --prefix P --work W go --source bindings/go [--go GO]
    run_consumer.py --prefix P --work W python --source bindings/python [--python PY]

`install` installs the build into a fresh prefix P (`cmake --install B --prefix P`) and
checks what landed there. Every other kind builds a program outside the project against P
only (never the build tree), starts a Python process (tests/consumers/target.py, run by
--target-python) that records what its own interpreter says about its threads, runs the
program on its PID and compares: every thread the target reports, by its
threading.get_ident() value, with its name and its function names and lines, innermost
first. The bindings' example programs are also run on a core file of the target (gdb's
gcore; `PROGRAM --core CORE`), made while it blocked and read after it is gone, and
compared the same way. All programs print the same format:

    libpydebug 1.0.0
    Python 3.11.7
    Thread 140230110680896 (MainThread):
      main_blocks (/path/target.py:88)
"""

import argparse
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


class Failure(Exception):
    pass


def log(message):
    print(message, flush=True)


def run(command, env=None, cwd=None, timeout=600):
    """Runs a command, echoing it, and returns its stdout; fails with its output if it fails."""
    log('$ ' + ' '.join(str(c) for c in command))
    try:
        result = subprocess.run([str(c) for c in command], env=env, cwd=cwd, timeout=timeout,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
    except FileNotFoundError as e:
        raise Failure('cannot run %s: %s' % (command[0], e))
    except subprocess.TimeoutExpired:
        raise Failure('%s took more than %d s' % (command[0], timeout))
    if result.stderr.strip():
        log(result.stderr.rstrip())
    if result.returncode != 0:
        log(result.stdout.rstrip())
        raise Failure('%s exited with status %d' % (command[0], result.returncode))
    return result.stdout


def fresh_dir(path):
    shutil.rmtree(str(path), ignore_errors=True)
    path.mkdir(parents=True)
    return path


# --- the installed tree ------------------------------------------------------------------

def pc_dir(prefix):
    found = sorted(glob.glob(str(prefix / '**' / 'pkgconfig' / 'pydebug.pc'), recursive=True))
    if not found:
        raise Failure('no pydebug.pc under %s: run the consumers_install test first' % prefix)
    return pathlib.Path(found[0]).parent


def pkg_config_env(prefix, base=None):
    env = dict(base if base is not None else os.environ)
    # Only the prefix under test: a pydebug.pc elsewhere on the machine must not be found.
    env['PKG_CONFIG_LIBDIR'] = str(pc_dir(prefix))
    env.pop('PKG_CONFIG_PATH', None)
    return env


def binding_test_env(args, env):
    """What the bindings' own tests compare against: the installed header and version, and
    the target they start themselves (each test its own, so that tests running at once do
    not disturb each other: target.py, run by --target-python)."""
    env['PYDEBUG_TEST_INCLUDE_DIR'] = run(['pkg-config', '--variable=includedir', 'pydebug'],
                                          env=pkg_config_env(args.prefix)).strip()
    env['PYDEBUG_TEST_EXPECT_VERSION'] = args.expect_version
    env['PYDEBUG_TEST_TARGET_PYTHON'] = args.target_python
    env['PYDEBUG_TEST_TARGET'] = str(HERE / 'target.py')
    # A function's raw line table and the position CPython gives each of its instructions.
    truth = args.work / 'linetable.txt'
    run([args.target_python, HERE / 'linetable_truth.py', truth])
    env['PYDEBUG_TEST_LINETABLE_TRUTH'] = str(truth)
    return env


def lib_dir(prefix):
    return run(['pkg-config', '--variable=libdir', 'pydebug'], env=pkg_config_env(prefix)).strip()


def check_install(args):
    prefix = fresh_dir(args.prefix)
    run([args.cmake, '--install', args.build_dir, '--prefix', prefix])
    expected = ['include/pydebug.h', 'include/pydebug/version.h', 'include/pydebug/frames.h']
    libs = ['libpydebug.so', 'libpydebug.so.1', 'libpydebug.a', 'pkgconfig/pydebug.pc',
            'cmake/pydebug/pydebugConfig.cmake', 'cmake/pydebug/pydebugConfigVersion.cmake',
            'cmake/pydebug/pydebugTargets.cmake']
    problems = [p for p in expected if not (prefix / p).exists()]
    libdir = pc_dir(prefix).parent
    problems += [str(libdir.relative_to(prefix) / p) for p in libs if not (libdir / p).exists()]
    if args.with_cli:
        problems += [p for p in ('bin/pydebug', 'share/man/man1/pydebug.1')
                     if not (prefix / p).exists()]
    # The installed files must not point back into the build or source tree: a package is
    # built in one place and used in another.
    for path in sorted(prefix.rglob('*')):
        if path.is_file() and path.suffix in ('.pc', '.cmake'):
            text = path.read_text(encoding='utf-8', errors='replace')
            for tree in (args.build_dir, str(HERE.parent.parent)):
                if os.path.realpath(tree) in text:
                    problems.append('%s mentions %s' % (path.relative_to(prefix), tree))
    if problems:
        raise Failure('installed tree is incomplete or not relocatable:\n  ' +
                      '\n  '.join(problems))
    # The pkg-config file must describe this prefix even though the build was configured
    # for another one (cmake --install --prefix is how packagers stage a package).
    libdir_var = os.path.realpath(lib_dir(prefix))
    if libdir_var != os.path.realpath(str(libdir)):
        raise Failure('pkg-config says libdir=%s, the library is in %s' % (libdir_var, libdir))
    log('installed into %s: headers, shared and static library, pkg-config file and CMake '
        'package present' % prefix)


# --- the target and the output ---------------------------------------------------------

class Target:
    """A target.py process; a context manager that always kills it."""

    def __init__(self, python, work, env=None):
        self.python = python
        self.truth_path = work / 'truth.json'
        self.env = env
        self.proc = None
        self.truth = None

    def __enter__(self):
        if self.truth_path.exists():
            self.truth_path.unlink()
        self.proc = subprocess.Popen([self.python, str(HERE / 'target.py'),
                                      str(self.truth_path), '--lifetime', '300'], env=self.env)
        deadline = time.time() + 60
        while not self.truth_path.exists():
            if self.proc.poll() is not None:
                raise Failure('target %s exited with status %d' % (self.python,
                                                                   self.proc.returncode))
            if time.time() > deadline:
                raise Failure('target did not record its threads within 60 s')
            time.sleep(0.02)
        self.truth = json.loads(self.truth_path.read_text(encoding='utf-8'))
        if self.truth['pid'] != self.proc.pid:
            raise Failure('truth file of pid %s, started %s' % (self.truth['pid'], self.proc.pid))
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_THREAD = re.compile(r'^Thread (\d+) \((.*)\):$')
_FRAME = re.compile(r'^  (\S+) \((.*):(-?\d+)\)$')


def parse_output(text):
    """{'libpydebug': str, 'python': str, 'threads': {ident: (name, [(func, file, line)])}}"""
    out = {'libpydebug': None, 'python': None, 'threads': {}}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith('libpydebug '):
            out['libpydebug'] = line.split(' ', 1)[1]
        elif line.startswith('Python '):
            out['python'] = line.split(' ', 1)[1]
        elif _THREAD.match(line):
            m = _THREAD.match(line)
            current = []
            out['threads'][int(m.group(1))] = (m.group(2), current)
        elif _FRAME.match(line) and current is not None:
            m = _FRAME.match(line)
            current.append((m.group(1), m.group(2), int(m.group(3))))
        elif line.strip():
            raise Failure('unexpected output line %d: %r' % (number, line))
    return out


def compare(output, truth, expect_version):
    """Compares a program's output with the target's own record; returns a list of problems."""
    got = parse_output(output)
    problems = []
    if expect_version and got['libpydebug'] != expect_version:
        problems.append('libpydebug version %r, expected %r' % (got['libpydebug'],
                                                                expect_version))
    if got['python'] != truth['python_version']:
        problems.append('Python %r, the target is %r' % (got['python'], truth['python_version']))
    for thread in truth['threads']:
        ident = thread['ident']
        if ident not in got['threads']:
            problems.append('thread %d (%s) missing; got %s' % (ident, thread['name'],
                                                                sorted(got['threads'])))
            continue
        name, frames = got['threads'][ident]
        want_name = thread['name'] if thread['name'] is not None else 'unnamed'
        if name != want_name:
            problems.append('thread %d: name %r, expected %r' % (ident, name, want_name))
        want = [(f['function'], f['line']) for f in thread['frames']]
        have = [(f[0], f[2]) for f in frames]
        if have != want:
            problems.append('thread %d (%s): frames %s, expected %s' % (ident, want_name, have,
                                                                        want))
        target_py = str(HERE / 'target.py')
        if frames and os.path.realpath(frames[0][1]) != target_py:
            problems.append('thread %d: innermost file %r, expected %r' % (ident, frames[0][1],
                                                                          target_py))
    return problems


def attach_and_compare(args, command, env=None, label='consumer'):
    with Target(args.target_python, args.work) as target:
        log('target: pid %d, Python %s, %d threads' % (target.proc.pid,
                                                      target.truth['python_version'],
                                                      len(target.truth['threads'])))
        output = run(command + [str(target.proc.pid)], env=env)
        problems = compare(output, target.truth, args.expect_version)
    if problems:
        log(output)
        raise Failure('%s disagrees with the target:\n  %s' % (label, '\n  '.join(problems)))
    log('%s: %d threads and their frames match the target' % (label,
                                                              len(target.truth['threads'])))


# --- C: pkg-config and CMake -----------------------------------------------------------

def needed_libraries(readelf, binary):
    text = run([readelf, '-d', binary])
    return re.findall(r'\(NEEDED\).*\[(.*)\]', text)


def check_pkgconfig(args):
    work = fresh_dir(args.work)
    env = pkg_config_env(args.prefix)
    modversion = run(['pkg-config', '--modversion', 'pydebug'], env=env).strip()
    if modversion != args.expect_version:
        raise Failure('pkg-config --modversion says %s, expected %s' % (modversion,
                                                                       args.expect_version))
    cflags = run(['pkg-config', '--cflags', 'pydebug'], env=env).split()
    program = work / 'consumer'
    source = HERE / 'c' / 'consumer.c'
    strict = ['-std=c11', '-pedantic', '-Wall', '-Wextra', '-Werror']
    if args.static:
        libs = run(['pkg-config', '--static', '--libs', 'pydebug'], env=env).split()
        run([args.cc] + strict + cflags + ['-static', '-o', program, source] + libs)
        needed = needed_libraries(args.readelf, program)
        if needed:
            raise Failure('a --static build still needs %s' % needed)
        run_env = dict(os.environ)
        run_env.pop('LD_LIBRARY_PATH', None)
    else:
        libs = run(['pkg-config', '--libs', 'pydebug'], env=env).split()
        run([args.cc] + strict + cflags + ['-o', program, source] + libs)
        needed = needed_libraries(args.readelf, program)
        if 'libpydebug.so.1' not in needed:
            raise Failure('the program does not link libpydebug.so.1 (NEEDED: %s)' % needed)
        # What a user does who installed into a private prefix.
        run_env = dict(os.environ, LD_LIBRARY_PATH=lib_dir(args.prefix))
    attach_and_compare(args, [program, args.expect_version], env=run_env,
                       label='pkg-config %s consumer' % ('static' if args.static else 'shared'))


def check_cmake(args):
    work = fresh_dir(args.work)
    build = work / 'build'
    env = dict(os.environ)
    env.pop('PKG_CONFIG_PATH', None)
    run([args.cmake, '-S', HERE / 'cmake', '-B', build, '-DCMAKE_C_COMPILER=' + args.cc,
         '-DCMAKE_PREFIX_PATH=' + str(args.prefix), '-DCONSUMER_SOURCE=' + str(HERE / 'c' /
                                                                                'consumer.c'),
         '-DEXPECTED_VERSION=' + args.expect_version], env=env)
    run([args.cmake, '--build', build], env=env)
    shared, static = build / 'consumer_shared', build / 'consumer_static'
    if 'libpydebug.so.1' not in needed_libraries(args.readelf, shared):
        raise Failure('pydebug::pydebug did not link the shared library')
    if any(n.startswith('libpydebug') for n in needed_libraries(args.readelf, static)):
        raise Failure('pydebug::pydebug_static linked the shared library')
    # No LD_LIBRARY_PATH: CMake gives programs in a build tree the RPATH of imported targets.
    run_env = dict(os.environ)
    run_env.pop('LD_LIBRARY_PATH', None)
    attach_and_compare(args, [shared, args.expect_version], env=run_env,
                       label='CMake consumer (pydebug::pydebug)')
    attach_and_compare(args, [static, args.expect_version], env=run_env,
                       label='CMake consumer (pydebug::pydebug_static)')


def core_and_compare(args, command, env=None, label='consumer'):
    """The same program on a core file of the target (gdb's gcore, while the target is
    blocked; the target is gone before the program runs): what it prints must match what
    the target recorded of itself."""
    # glibc reserves 64 MiB per malloc arena and thread, and gcore dumps the reservations:
    # one arena keeps the core small.
    target_env = dict(os.environ, MALLOC_ARENA_MAX='1')
    with Target(args.target_python, args.work, env=target_env) as target:
        pid = target.proc.pid
        prefix = args.work / 'core'
        try:
            made = subprocess.run(['gcore', '-o', str(prefix), str(pid)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, timeout=120)
        except OSError as e:
            raise Failure('gcore: %s (run .ci/install-deps, which installs gdb)' % e)
        core = pathlib.Path('%s.%d' % (prefix, pid))
        if made.returncode != 0 or not core.exists():
            raise Failure('gcore failed (%d): %s' % (made.returncode, made.stdout[-300:]))
        truth = target.truth
    try:
        output = run(command + ['--core', str(core)], env=env)
    finally:
        core.unlink()
    problems = compare(output, truth, args.expect_version)
    if problems:
        log(output)
        raise Failure('%s on a core file disagrees with the target:\n  %s' % (
            label, '\n  '.join(problems)))
    log('%s on a core file: %d threads and their frames match the target' % (
        label, len(truth['threads'])))


# --- Rust ------------------------------------------------------------------------------

def find_tool(name, explicit, env_var, extra):
    """The tool given, or from $env_var, PATH or the usual per-user places; None if absent."""
    candidates = [explicit, os.environ.get(env_var), shutil.which(name)] + extra
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def check_rust(args):
    homes = [os.environ.get('CARGO_HOME'), os.environ.get('HOME') and
             os.path.join(os.environ['HOME'], '.cargo'), '/root/.cargo']
    looked = [os.path.join(h, 'bin', 'cargo') for h in homes if h]
    cargo = find_tool('cargo', args.cargo, 'CARGO', looked)
    if not cargo:
        raise Failure('cargo not found (looked in $CARGO, PATH and %s); run .ci/install-deps, '
                      'which installs Debian\'s cargo' % ', '.join(looked))
    work = fresh_dir(args.work)
    # A copy: cargo writes Cargo.lock next to Cargo.toml, and the source tree stays clean.
    crate = work / 'src'
    shutil.copytree(str(args.source), str(crate),
                    ignore=shutil.ignore_patterns('target', 'Cargo.lock'))
    env = pkg_config_env(args.prefix)
    env['CARGO_TARGET_DIR'] = str(work / 'target')
    env['CARGO_HOME'] = str(work / 'cargo-home')  # no registry: nothing may be downloaded
    env['CARGO_NET_OFFLINE'] = 'true'
    cargo_bin = os.path.dirname(os.path.realpath(cargo))
    if 'RUSTUP_HOME' not in env and os.path.basename(os.path.dirname(cargo_bin)) == '.cargo':
        # A rustup proxy: its toolchains are beside it, even when HOME is not set.
        rustup_home = os.path.join(os.path.dirname(os.path.dirname(cargo_bin)), '.rustup')
        if os.path.isdir(rustup_home):
            env['RUSTUP_HOME'] = rustup_home
    env['PATH'] = os.path.dirname(cargo) + os.pathsep + env.get('PATH', '')
    env['LD_LIBRARY_PATH'] = lib_dir(args.prefix)
    binding_test_env(args, env)
    log(run([cargo, '--version'], env=env).strip())
    run([cargo, 'build', '--offline', '--examples'], env=env, cwd=crate)
    run([cargo, 'test', '--offline'], env=env, cwd=crate)
    example = work / 'target' / 'debug' / 'examples' / 'dump_stacks'
    attach_and_compare(args, [example], env=env, label='Rust example')
    core_and_compare(args, [example], env=env, label='Rust example')


# --- Go --------------------------------------------------------------------------------

def check_go(args):
    go = find_tool('go', args.go, 'GO', ['/usr/lib/go/bin/go', '/usr/lib/go-1.19/bin/go',
                                         '/usr/local/go/bin/go'])
    if not go:
        raise Failure('go not found; run .ci/install-deps, which installs Debian\'s golang-go')
    work = fresh_dir(args.work)
    env = pkg_config_env(args.prefix)
    env.update(GOCACHE=str(work / 'gocache'), GOPATH=str(work / 'gopath'), GOPROXY='off',
               GOFLAGS='-modcacherw', GO111MODULE='on', CGO_ENABLED='1', GOTOOLCHAIN='local',
               CC=args.cc, LD_LIBRARY_PATH=lib_dir(args.prefix))
    env.setdefault('HOME', str(work))
    binding_test_env(args, env)
    log(run([go, 'version'], env=env).strip())
    run([go, 'vet', './...'], env=env, cwd=args.source)
    run([go, 'test', './...'], env=env, cwd=args.source)
    example = work / 'dump_stacks'
    run([go, 'build', '-o', example, './examples/dump_stacks'], env=env, cwd=args.source)
    attach_and_compare(args, [example], env=env, label='Go example')
    core_and_compare(args, [example], env=env, label='Go example')


# --- Python (ctypes) -------------------------------------------------------------------

def check_python(args):
    fresh_dir(args.work)
    # The library is found as a user's program finds it: by its SONAME, through the loader.
    env = dict(os.environ, LD_LIBRARY_PATH=lib_dir(args.prefix))
    env.pop('PYDEBUG_LIBRARY', None)
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    binding_test_env(args, env)
    run([args.python, '-m', 'unittest', '-v', 'test_pydebug_ctypes'], env=env,
        cwd=args.source)
    attach_and_compare(args, [args.python, args.source / 'dump_stacks.py'], env=env,
                       label='Python ctypes example')
    core_and_compare(args, [args.python, str(args.source / 'dump_stacks.py')], env=env,
                     label='Python ctypes example')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--prefix', type=pathlib.Path, required=True)
    parser.add_argument('--work', type=pathlib.Path, required=True)
    parser.add_argument('--target-python', default='/usr/bin/python3')
    parser.add_argument('--expect-version', default='')
    parser.add_argument('--readelf', default='readelf')
    sub = parser.add_subparsers(dest='kind')
    p = sub.add_parser('install')
    p.add_argument('--build-dir', required=True)
    p.add_argument('--cmake', required=True)
    p.add_argument('--with-cli', action='store_true')
    p = sub.add_parser('pkgconfig')
    p.add_argument('--cc', required=True)
    p.add_argument('--static', action='store_true')
    p = sub.add_parser('cmake')
    p.add_argument('--cmake', required=True)
    p.add_argument('--cc', required=True)
    p = sub.add_parser('rust')
    p.add_argument('--source', type=pathlib.Path, required=True)
    p.add_argument('--cargo')
    p = sub.add_parser('go')
    p.add_argument('--source', type=pathlib.Path, required=True)
    p.add_argument('--go')
    p.add_argument('--cc', default='cc')
    p = sub.add_parser('python')
    p.add_argument('--source', type=pathlib.Path, required=True)
    p.add_argument('--python', default=sys.executable)
    args = parser.parse_args()
    if not args.kind:
        parser.error('which kind of consumer?')
    args.prefix = args.prefix.resolve()
    args.work = args.work.resolve()
    kinds = {'install': check_install, 'pkgconfig': check_pkgconfig, 'cmake': check_cmake,
             'rust': check_rust, 'go': check_go, 'python': check_python}
    try:
        kinds[args.kind](args)
    except Failure as e:
        log('FAIL: %s' % e)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
