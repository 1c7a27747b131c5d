# -*- coding: utf-8 -*-
"""Generates the line-table test vectors in tests/unit/data/linetable/ from real CPythons.

Run with any Python 3 to regenerate every vector file:

    python3 tests/unit/gen_linetable_cases.py --all

which runs this same script under each interpreter listed in INTERPRETERS as

    <python> tests/unit/gen_linetable_cases.py --emit tests/unit/data/linetable/<tag>.txt

The script compiles a fixed corpus of sources (gated by the version that can
parse them) plus one stdlib module of the running interpreter, walks every code
object recursively through co_consts and writes, for each one, its table bytes
and the position CPython itself gives for every byte offset of its bytecode:

  2.7 - 3.9   dis.findlinestarts(), the line of an offset being the line of the
              last line start at or before it;
  3.10        code.co_lines();
  3.11+       code.co_positions() (one tuple per 2-byte code unit).

Every expectation is also checked against the C functions the interpreter uses
itself (PyCode_Addr2Line, and PyCode_Addr2Location on 3.11+, called through
ctypes) at every offset, and against negative offsets (a frame that has not
started); generation stops if any of them disagree.

It runs unchanged on Python 2.7 and 3.6+, hence the old-fashioned style.

File format (one record per line, fields separated by one space):
  # comment
  V <python version> <format>         format: lnotab-unsigned | lnotab-signed |
                                      linetable310 | locations
  C <name> <co_firstlineno> <len(co_code)> <table as hex, or - when empty>
  E <runs>                            runs of expected positions, each
                                      <offset>:<line> (lnotab, 3.10) or
                                      <offset>:<line>:<end_line>:<col>:<end_col>
                                      (3.11+); a run lasts until the next run's
                                      offset or the end of the bytecode; -1 = None
"""
from __future__ import print_function

import ctypes
import dis
import os
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data", "linetable")

# (tag, interpreter). The tag names the vector file; the test lists the same tags.
INTERPRETERS = [
    ("cpython-2.7", "/root/.pyenv/versions/2.7.18/bin/python"),
    ("cpython-3.6", "/root/.pyenv/versions/3.6.15/bin/python"),
    ("cpython-3.7", "/root/.pyenv/versions/3.7.16/bin/python"),
    ("cpython-3.8", "/root/.pyenv/versions/3.8.18/bin/python"),
    ("cpython-3.9", "/root/.pyenv/versions/3.9.18/bin/python"),
    ("cpython-3.10", "/root/.pyenv/versions/3.10.13/bin/python"),
    ("cpython-3.11", "/root/.pyenv/versions/3.11.7/bin/python"),
    ("cpython-3.11-debian", "/usr/bin/python3.11"),
    ("cpython-3.12", "/root/.pyenv/versions/3.12.1/bin/python"),
    ("cpython-3.13", "/root/.pyenv/versions/3.13.0/bin/python"),
]

# A stdlib module compiled on top of the corpus, for code nobody wrote for this test.
# Chosen to exist from 2.7 to 3.13 and to stay small.
STDLIB_MODULE = "textwrap.py"

# ---------------------------------------------------------------------------------------
# The corpus: (minimum version, name, source). Sources are compiled, never run.

CORPUS = []


def case(min_version, name, source):
    CORPUS.append((min_version, name, source))


case((2, 7), "loops", '''
def loops(items, n):
    total = 0
    for i in items:
        if i % 2:
            continue
        elif i > n:
            break
        total += i
    else:
        total = -1
    while n > 0:
        n -= 1
        if n == 3:
            break
    else:
        total += 1
    i = 0
    while True:
        i += 1
        if i > 10: break
    for a in range(3):
        for b in range(3):
            for c in range(3):
                total += a * b * c
    return total
''')

case((2, 7), "multiline_expressions", '''
def multiline(a, b, c):
    x = (a +
         b *
         c)
    y = call_something(a,
                       b,
                       key=c,
                       *[a, b],
                       **{"k": c})
    z = {
        "a": a,
        "b": [b,
              b + 1,
              b + 2],
        "c": (c
              if c else
              None),
    }
    w = a if \\
        b else \\
        c
    s = ("implicit "
         "string "
         "concatenation")
    ok = (a < b <
          c <= x)
    return (x, y,
            z, w,
            s, ok)

result = multiline(
    1,
    2,
    3,
)
assert result, (
    "message"
)
''')

case((2, 7), "decorators_classes", '''
import functools

def deco(*args, **kwargs):
    def wrap(f):
        @functools.wraps(f)
        def inner(*a, **k):
            return f(*a, **k)
        return inner
    return wrap

@deco(
    1,
    name="x",
)
@deco()
def decorated(a, b=2,
              c=3):
    return a + b + c

class Base(object):
    attr = 1

    @property
    def prop(self):
        return self.attr

    @staticmethod
    def st(x):
        return x * 2

    @classmethod
    def cm(cls, y):
        return cls(
        )

@deco()
class Derived(Base):
    """doc"""
    def method(self, v):
        def nested(w):
            def deeper(q):
                return v + w + q
            return deeper
        return nested(v)(1)
''')

case((2, 7), "lambdas_comprehensions", '''
square = lambda x: x * x
adder = lambda a, b=lambda: 1: a + b()
nested = lambda x: (lambda y: (lambda z: x + y + z))
table = [
    (i, j)
    for i in range(10)
    if i % 2
    for j in range(i)
    if j
]
sets = {x * 2 for x in range(5)}
dicts = {k: v for k, v in zip("abc",
                               range(3))}
gen = (i
       for i in range(3))
sorted_items = sorted(dicts.items(), key=lambda kv: (kv[1],
                                                     kv[0]))
matrix = [[row * col for col in range(4)] for row in range(4)]
def uses_comprehensions(data):
    return [f(x) for x in data if x], {y for y in data}, {z: z for z in data}
''')

case((2, 7), "exceptions", '''
def handlers(f, g):
    try:
        f()
    except ValueError as e:
        g(e)
    except (TypeError, KeyError):
        pass
    except Exception:
        raise
    else:
        g(None)
    finally:
        f()
    try:
        try:
            f()
        finally:
            g()
    except:
        return 1
    for i in range(3):
        try:
            if i:
                continue
            f(i)
        finally:
            g(i)
    try:
        return f()
    finally:
        g()

def raiser(x):
    if x:
        raise ValueError(
            "bad value %r" % (x,))
    assert x is not None, "never"
''')

case((2, 7), "with_statements", '''
def withs(a, b, path):
    with a:
        pass
    with a as x, b as y:
        x(y)
    with open(path) as fh:
        with a:
            data = fh.read()
    with a as (p, q):
        return p + q + len(data)
''')

case((2, 7), "generators", '''
def gen(n):
    for i in range(n):
        received = yield i
        if received:
            yield received
    yield (
        n,
        n + 1,
    )

def gen_expr_consumer(n):
    return sum(x * x for x in gen(n) if x)
''')

case((2, 7), "long_function", None)       # built by long_function_source()
case((2, 7), "huge_line_numbers", None)   # built by huge_line_numbers_source()
case((2, 7), "non_ascii_strings", None)   # built by non_ascii_source()
case((2, 7), "latin1_source", None)       # built by latin1_source()
case((3, 0), "non_ascii_names", None)     # built by non_ascii_names_source()

case((3, 3), "py3_features", '''
def kwonly(a, *, b=1, c):
    nonlocal_holder = 0
    def inc():
        nonlocal nonlocal_holder
        nonlocal_holder += 1
        return nonlocal_holder
    return a + b + c + inc()

def delegate(it):
    result = yield from it
    return result

def chained():
    try:
        1 / 0
    except ZeroDivisionError as exc:
        raise RuntimeError("wrapped") from exc

def starred(first, *rest):
    a, *b, c = rest
    return [*b, first, c]
''')

case((3, 5), "async_functions", '''
import asyncio

async def fetch(session, url):
    async with session.get(url) as response:
        async for chunk in response:
            await asyncio.sleep(0)
    return await response.text()

async def gather_all(urls):
    results = []
    for url in urls:
        try:
            results.append(await fetch(None, url))
        except Exception:
            results.append(None)
    return results
''')

case((3, 6), "async_generators_fstrings", '''
async def agen(n):
    for i in range(n):
        yield i
        await something(i)

async def acomp(source):
    a = [x async for x in source]
    b = [await x for x in source]
    return {k: v async for k, v in source}, a, b

def fstrings(name, value, width):
    a = f"{name}: {value!r:>{width}}"
    b = (f"{name}"
         f"{value + 1}"
         f"{width * 2:.3f}")
    return a + b
''')

case((3, 8), "walrus_posonly", '''
def posonly(a, b, /, c, *, d):
    if (n := len(a)) > 10:
        return n
    while (chunk := b.read(
            c)):
        d(chunk)
    return [y for x in a if (y := x * 2)]
''')

case((3, 10), "match_statements", '''
def matcher(command):
    match command.split():
        case [action]:
            return action
        case [action, obj]:
            return action, obj
        case ["go", direction] if direction in (
                "north", "south"):
            return direction
        case {"x": x, "y": y, **rest}:
            return x, y, rest
        case Point(x=0, y=yy) | Point(x=yy, y=0):
            return yy
        case [1, 2, *others]:
            return others
        case str() | bytes() as text:
            return text
        case None:
            return None
        case _:
            return "default"
''')

case((3, 11), "except_star", '''
def groups(f):
    try:
        f()
    except* ValueError as eg:
        handle(eg)
    except* (TypeError, KeyError):
        pass
    return 1
''')

case((3, 12), "type_params", '''
type Alias[T] = list[T]

def first[T](items: list[T]) -> T:
    return items[0]

class Box[T]:
    def get(self) -> T:
        return self.value
''')

case((3, 12), "multiline_fstrings", '''
def report(rows):
    return f"""rows: {
        len(rows)
    } first: {rows[0]!r:>{
        10}} done"""
''')


def long_function_source():
    """A function with big line gaps, long single lines and loops whose bodies
    span hundreds of lines, so back-jumps carry large negative line deltas."""
    out = ["def long_function(a, b, c):", "    total = 0"]
    # Line gaps of more than 255 (and more than 127 and 65535) lines.
    for gap in (130, 256, 300, 1000):
        out.extend([""] * gap)
        out.append("    total += a  # after a gap of %d" % gap)
    # A single line producing well over 255 bytes of bytecode.
    out.append("    big = [" + ", ".join("a.f%d(b, c)" % i for i in range(60)) + "]")
    # A loop body hundreds of lines long: the back edge jumps a long way up.
    out.append("    for i in range(a):")
    for i in range(20):
        out.extend([""] * 12)
        out.append("        total += i * %d" % i)
    out.append("        if total > b:")
    out.append("            break")
    out.append("    while total > 0:")
    out.extend([""] * 400)
    out.append("        total -= c")
    # Many statements, each on its own line, to make the table itself long.
    for i in range(40):
        out.append("    total = total + a * %d if b else total - %d" % (i, i))
    # Columns far to the right (long-form entries on 3.11+).
    out.append("    " + "x%d = " % 0 + " " * 200 + "a + b + c")
    out.append("    return (total, big,")
    out.extend([""] * 300)
    out.append("            c)")
    return "\n".join(out) + "\n"


def huge_line_numbers_source():
    out = ["def early(x):", "    return x + 1"]
    out.extend([""] * 70000)
    out.append("def late(x):")
    out.append("    y = x * 2")
    out.extend([""] * 40000)
    out.append("    return y + early(x)")
    out.append("value = late(1)")
    return "\n".join(out) + "\n"


def non_ascii_source():
    # Strings with multi-byte UTF-8 characters before the expressions, so that
    # 3.11+ columns (UTF-8 byte offsets) differ from character offsets.
    return u'''# -*- coding: utf-8 -*-
def accents(f, g):
    s = u"\u00e9t\u00e9 \u00e0 \u00ba" + f(u"\u65e5\u672c\u8a9e") + g(1)
    t = [u"\U0001f600\U0001f600", f(2), u"\u00fc" * g(3)]
    u = {u"cl\u00e9": f(u"\u00df" + u"\u00e7"), u"\u20ac": g(u"\u2603")}
    return s, t, u
'''.encode("utf-8")


def latin1_source():
    # Declared latin-1: the tokenizer re-encodes the text to UTF-8 first, so
    # columns count two bytes for each of these characters.
    return u'''# -*- coding: latin-1 -*-
def latin(f):
    label = u"\u00e9\u00e8\u00ea\u00eb" + f(u"\u00e7a")
    return label + f(u"\u00e0\u00e2") + f(label)
'''.encode("latin-1")


def non_ascii_names_source():
    return u'''# -*- coding: utf-8 -*-
def donn\u00e9es(\u00e9l\u00e8ve, \u65e5\u672c):
    r\u00e9sultat = \u00e9l\u00e8ve + \u65e5\u672c
    \u00fcber = [\u00e9 * 2 for \u00e9 in r\u00e9sultat]
    return \u0444\u0443\u043d\u043a\u0446\u0438\u044f(\u00fcber, r\u00e9sultat) + \u00e9l\u00e8ve.\u043c\u0435\u0442\u043e\u0434()
class \u041a\u043b\u0430\u0441\u0441:
    def \u043c\u0435\u0442\u043e\u0434(self):
        return self.\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435
'''.encode("utf-8")


BUILDERS = {
    "long_function": long_function_source,
    "huge_line_numbers": huge_line_numbers_source,
    "non_ascii_strings": non_ascii_source,
    "latin1_source": latin1_source,
    "non_ascii_names": non_ascii_names_source,
}

# ---------------------------------------------------------------------------------------
# Ground truth


def table_format():
    v = sys.version_info[:2]
    if v >= (3, 11):
        return "locations"
    if v == (3, 10):
        return "linetable310"
    if v >= (3, 6):
        return "lnotab-signed"
    return "lnotab-unsigned"


def table_bytes(code):
    if sys.version_info[:2] >= (3, 10):
        return bytearray(code.co_linetable)
    return bytearray(code.co_lnotab)


def c_api():
    api = ctypes.pythonapi
    addr2line = api.PyCode_Addr2Line
    addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
    addr2line.restype = ctypes.c_int
    addr2location = None
    if sys.version_info[:2] >= (3, 11):
        addr2location = api.PyCode_Addr2Location
        addr2location.argtypes = [ctypes.py_object, ctypes.c_int] + [ctypes.POINTER(ctypes.c_int)] * 4
        addr2location.restype = ctypes.c_int
    return addr2line, addr2location


def none_to_minus1(v):
    return -1 if v is None else v


def expected_per_offset(code):
    """One expected value per byte offset of co_code, from the Python-level API."""
    n = len(code.co_code)
    fmt = table_format()
    if fmt.startswith("lnotab"):
        per = [None] * n
        starts = sorted(dis.findlinestarts(code))
        if not starts or starts[0][0] != 0:
            raise SystemExit("%s: no line start at offset 0" % code.co_name)
        for idx, (start, line) in enumerate(starts):
            stop = starts[idx + 1][0] if idx + 1 < len(starts) else n
            for off in range(start, min(stop, n)):
                per[off] = (line,)
        return per
    if fmt == "linetable310":
        per = [(-1,)] * n
        for start, end, line in code.co_lines():
            for off in range(start, min(end, n)):
                per[off] = (none_to_minus1(line),)
        return per
    per = [None] * n
    positions = list(code.co_positions())
    if len(positions) * 2 != n:
        raise SystemExit("%s: %d positions for %d bytes" % (code.co_name, len(positions), n))
    for unit, pos in enumerate(positions):
        t = tuple(none_to_minus1(x) for x in pos)
        per[2 * unit] = per[2 * unit + 1] = t
    # co_lines() must tell the same lines as co_positions().
    for start, end, line in code.co_lines():
        for off in range(start, end):
            if per[off][0] != none_to_minus1(line):
                raise SystemExit("%s: co_lines and co_positions disagree at %d" % (code.co_name, off))
    return per


def check_against_c(code, per, addr2line, addr2location):
    """The Python-level APIs and the C functions the interpreter itself uses must agree."""
    fmt = table_format()
    step = 2 if fmt == "locations" else 1
    for off in range(0, len(per), step):
        got = addr2line(code, off)
        if got != per[off][0]:
            raise SystemExit("%s: PyCode_Addr2Line(%d) = %d, expected %r"
                             % (code.co_name, off, got, per[off]))
        if addr2location is not None:
            vals = [ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()]
            addr2location(code, off, *[ctypes.byref(v) for v in vals])
            line, col, end_line, end_col = [v.value for v in vals]
            if (line, end_line, col, end_col) != per[off]:
                raise SystemExit("%s: PyCode_Addr2Location(%d) = %r, expected %r"
                                 % (code.co_name, off, (line, end_line, col, end_col), per[off]))
    # A frame that has not run yet (f_lasti -1, or prev_instr before the first
    # instruction on 3.11+) reports co_firstlineno; the decoders promise the same.
    for off in (-1, -2):
        if addr2line(code, off) != code.co_firstlineno:
            raise SystemExit("%s: PyCode_Addr2Line(%d) is not co_firstlineno" % (code.co_name, off))
        if addr2location is not None:
            vals = [ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()]
            addr2location(code, off, *[ctypes.byref(v) for v in vals])
            first = code.co_firstlineno
            if [v.value for v in vals] != [first, 0, first, 0]:
                raise SystemExit("%s: PyCode_Addr2Location(%d) unexpected" % (code.co_name, off))


def runs(per):
    out = []
    prev = None
    for off, value in enumerate(per):
        if value != prev:
            out.append("%d:%s" % (off, ":".join(str(x) for x in value)))
            prev = value
    return " ".join(out)


def walk_codes(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for inner in walk_codes(const):
                yield inner


def hexlify(b):
    return "".join("%02x" % x for x in b) or "-"


def corpus_sources():
    version = sys.version_info[:2]
    for min_version, name, source in CORPUS:
        if version < min_version:
            continue
        if source is None:
            source = BUILDERS[name]()
        elif not isinstance(source, bytes):
            source = source.encode("utf-8")
        yield name, source
    path = os.path.join(os.path.dirname(os.__file__), STDLIB_MODULE)
    with open(path, "rb") as fh:
        yield "stdlib-" + STDLIB_MODULE, fh.read()


def emit(out_path):
    addr2line, addr2location = c_api()
    fmt = table_format()
    lines = [
        "# Generated by tests/unit/gen_linetable_cases.py; do not edit.",
        "# Regenerate: python3 tests/unit/gen_linetable_cases.py --all",
        "# %s" % sys.executable,
        "V %s %s" % (sys.version.split()[0], fmt),
    ]
    n_codes = n_offsets = 0
    for name, source in corpus_sources():
        module = compile(source, "<%s>" % name, "exec", 0, True)
        for code in walk_codes(module):
            per = expected_per_offset(code)
            check_against_c(code, per, addr2line, addr2location)
            code_name = getattr(code, "co_qualname", code.co_name)
            code_name = "%s/%s" % (name, code_name)
            # Names go on a space-separated line: keep them ASCII and unspaced.
            code_name = "".join(c if 33 <= ord(c) < 127 else "?" for c in code_name)
            lines.append("C %s %d %d %s" % (code_name, code.co_firstlineno, len(code.co_code),
                                            hexlify(table_bytes(code))))
            lines.append("E " + runs(per))
            n_codes += 1
            n_offsets += len(per)
    with open(out_path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("%s: %d code objects, %d offsets -> %s" % (sys.version.split()[0], n_codes, n_offsets,
                                                     out_path))


def emit_all():
    if not os.path.isdir(DATA_DIR):
        os.makedirs(DATA_DIR)
    for tag, python in INTERPRETERS:
        out_path = os.path.join(DATA_DIR, tag + ".txt")
        subprocess.check_call([python, os.path.abspath(__file__), "--emit", out_path])


def main(argv):
    if len(argv) == 2 and argv[1] == "--all":
        emit_all()
    elif len(argv) == 3 and argv[1] == "--emit":
        emit(argv[2])
    else:
        print(__doc__)
        print("usage: %s --all | --emit OUT" % argv[0])
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
