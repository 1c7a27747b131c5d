# Checks one libpydebug layout table against the interpreter that runs this script.
#
# Run by tests/unit/test_layout.c as `pythonX.Y layout_check.py name=value ...` with
# every offset of the table for this version (-1 = "no such field") and the
# models by name. The interpreter reads its own live structures through ctypes
# at those offsets and compares with what it knows through its own API
# (id(), len(), threading.get_ident(), the C API; on 3.13 also its own
# _Py_DebugOffsets). One line per check:
#     OK <field>            the field was verified (there may be several per field)
#     FAIL <field>: <why>
#     SKIP <field>: <why>   this machine cannot check it (only for a few fields)
# and "DONE <failures>" at the end; a crash (bad offset => bad pointer) loses it.
#
# Must run on 2.7 and every 3.x: no f-strings, no walrus.
import ctypes
import gc
import sys
import threading

L = {}
for _arg in sys.argv[1:]:
    _k, _v = _arg.split("=", 1)
    if _k.startswith("model."):
        L[_k] = _v  # enum names without PYDBG__: model.frame=IFRAME_313
        continue
    try:
        L[_k] = int(_v, 0)
    except ValueError:
        L[_k] = _v

PY2 = sys.version_info[0] == 2
VER = sys.version_info[:2]
api = ctypes.pythonapi
VP = ctypes.c_void_p
failures = [0]


def has(name):
    return L.get(name, -1) != -1


def off(name):
    return L[name]


def ok(name, cond, detail=""):
    if cond:
        print("OK %s" % name)
    else:
        failures[0] += 1
        print("FAIL %s: %s" % (name, detail))
    sys.stdout.flush()


def ptr(addr):
    return VP.from_address(addr).value or 0


def i32(addr):
    return ctypes.c_int.from_address(addr).value


def u8(addr):
    return ctypes.c_uint8.from_address(addr).value


def ssize(addr):
    return ctypes.c_ssize_t.from_address(addr).value


def ulong(addr):
    return ctypes.c_ulong.from_address(addr).value


def i64(addr):
    return ctypes.c_int64.from_address(addr).value


def u64(addr):
    return ctypes.c_uint64.from_address(addr).value


def raw(addr, n):
    return ctypes.string_at(addr, n)


def cfunc(name, restype, *argtypes):
    f = getattr(api, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


PyThreadState_Get = cfunc("PyThreadState_Get", VP)
PyInterpreterState_Head = cfunc("PyInterpreterState_Head", VP)
PyInterpreterState_Next = cfunc("PyInterpreterState_Next", VP, VP)
PyInterpreterState_ThreadHead = cfunc("PyInterpreterState_ThreadHead", VP, VP)
PyThreadState_Next = cfunc("PyThreadState_Next", VP, VP)
if VER >= (3, 7):
    PyInterpreterState_GetID = cfunc("PyInterpreterState_GetID", ctypes.c_int64, VP)


def get_ident():
    if PY2:
        import thread
        return thread.get_ident()
    return threading.get_ident()


def check(name, fn):
    """Runs one group of checks; an exception is a failure of `name`, not a crash."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - report, do not stop the other checks
        ok(name, False, "%s: %s" % (type(e).__name__, e))


def main_interp():
    """The head of the interpreter list: the main one while no other exists."""
    return PyInterpreterState_Head()


# ---- objects ----------------------------------------------------------------------------


def check_object():
    t = (1, "two", 3.0)
    ok("object.ob_type", ptr(id(t) + off("object.ob_type")) == id(tuple), "tuple type")
    ok("object.ob_type", ptr(id(7.5) + off("object.ob_type")) == id(float), "float type")
    ok("object.ob_size", ssize(id(t) + off("object.ob_size")) == 3, "len of a 3-tuple")


def check_seq():
    items = [object(), "x", 12345678901]
    lst = list(items)
    tup = tuple(items)
    arr = ptr(id(lst) + off("seq.list_ob_item"))
    ok("seq.list_ob_item", [ptr(arr + 8 * i) for i in range(3)] == [id(x) for x in items])
    base = id(tup) + off("seq.tuple_ob_item")
    ok("seq.tuple_ob_item", [ptr(base + 8 * i) for i in range(3)] == [id(x) for x in items])


def check_type():
    class Probe(object):
        def __init__(self):
            self.alpha = 1
            self.beta = "b"

    for tp in (int, tuple, dict, Probe):
        name = ctypes.c_char_p(ptr(id(tp) + off("type.tp_name"))).value
        if not PY2:
            name = name.decode("utf-8")
        ok("type.tp_name", name == tp.__name__, "%r vs %r" % (name, tp.__name__))
        ok("type.tp_basicsize", ssize(id(tp) + off("type.tp_basicsize")) == tp.__basicsize__)
        ok("type.tp_itemsize", ssize(id(tp) + off("type.tp_itemsize")) == tp.__itemsize__)
        ok("type.tp_flags", ulong(id(tp) + off("type.tp_flags")) == tp.__flags__)
        ok("type.tp_dictoffset", ssize(id(tp) + off("type.tp_dictoffset")) == tp.__dictoffset__)
    class DictOnly(object):
        __slots__ = ("__dict__",)  # a dict but no weakref slot (3.12+ flag it apart)

    class IntSub(int):
        pass  # variable-sized: a managed dict, never inline values

    def flagged(types, flag):
        return [bool(t.__flags__ & flag) for t in types]

    if L["type.flag_managed_dict"]:
        got = flagged((Probe, DictOnly, int, dict), L["type.flag_managed_dict"])
        ok("type.flag_managed_dict", got == [True, True, False, False], "%r" % got)
    if L["type.flag_inline_values"]:
        got = flagged((Probe, DictOnly, IntSub, int, dict), L["type.flag_inline_values"])
        ok("type.flag_inline_values", got == [True, True, False, False, False], "%r" % got)

    if has("type.ht_cached_keys"):
        o = Probe()
        cached = ptr(id(Probe) + off("type.ht_cached_keys"))
        # The instance dict shares the class's cached keys (PEP 412), however the
        # instance stores its values (3.11+ materialise the dict on __dict__).
        keys = ptr(id(o.__dict__) + off("dict.ma_keys"))
        ok("type.ht_cached_keys", cached != 0 and cached == keys, "%x vs %x" % (cached, keys))

    check_instance_values(Probe)


def check_instance_values(cls):
    """Where an instance keeps its attribute values when it has no dict (3.11+)."""
    model = L["model.instdict"]
    if not has("dict.ma_values"):
        return  # 2.7: no split tables
    va = off("dictkeys.values_array")
    # A split-table instance dict: keys shared with the class, values apart (from 3.11
    # the dict is made on demand and takes over, or shares, the instance's values).
    o = cls()
    values = ptr(id(o.__dict__) + off("dict.ma_values"))
    got = [ptr(values + va + 8 * i) for i in range(2)] if values else None
    ok("dict.ma_values", got == [id(o.alpha), id(o.beta)], "%r" % got)
    ok("dictkeys.values_array", got == [id(o.alpha), id(o.beta)], "%r" % got)
    if model == "INSTDICT_OFFSET":
        return
    a, b = object(), object()
    o = cls()
    o.alpha, o.beta = a, b  # same insertion order as __init__: slots 0 and 1
    if model == "INSTDICT_MANAGED_311":
        values = ptr(id(o) - 4 * 8)
    elif model == "INSTDICT_MANAGED_312":
        tagged = ptr(id(o) - 3 * 8)
        # PyDictOrValues: a dict pointer, or the values pointer minus one (odd).
        ok("model.instdict", tagged & 1 == 1, "values pointer not tagged: %x" % tagged)
        values = tagged + 1
    else:  # INLINE_313
        ok("model.instdict", cls.__flags__ & L["type.flag_inline_values"], "no inline values")
        values = id(o) + cls.__basicsize__
    got = [ptr(values + va + 8 * i) for i in range(2)]
    ok("dictkeys.values_array", got == [id(a), id(b)], "%r" % got)
    ok("model.instdict", True)


def check_unicode():
    if L["model.strings"] == "STRINGS_PY2":
        s = "".join(["layout", "-probe"])
        ok("bytes.ob_size", ssize(id(s) + off("bytes.ob_size")) == len(s))
        ok("bytes.ob_sval", raw(id(s) + off("bytes.ob_sval"), len(s) + 1) == s + "\0")
        return
    b = b"layout\0probe"
    ok("bytes.ob_size", ssize(id(b) + off("bytes.ob_size")) == len(b))
    ok("bytes.ob_sval", raw(id(b) + off("bytes.ob_sval"), len(b) + 1) == b + b"\0")

    shift = off("unicode.kind_shift")
    cases = [
        ("".join(["layout", "-probe"]), 1, True, "latin-1"),
        ("".join(["caf", "\u00e9 cr\u00e8me"]), 1, False, "latin-1"),
        ("".join(["\u20ac", "uro \u0416"]), 2, False, "utf-16-le"),
        ("".join(["smile ", "\U0001F600"]), 4, False, "utf-32-le"),
    ]
    for s, kind, is_ascii, codec in cases:
        state = u32_state(id(s) + off("unicode.state"))
        ok("unicode.length", ssize(id(s) + off("unicode.length")) == len(s), repr(s))
        ok("unicode.kind_shift", (state >> shift) & 7 == kind, "%s: state %x" % (repr(s), state))
        ok("unicode.compact_bit", (state >> off("unicode.compact_bit")) & 1 == 1, repr(s))
        ok("unicode.ascii_bit", (state >> off("unicode.ascii_bit")) & 1 == int(is_ascii), repr(s))
        data = off("unicode.ascii_data") if is_ascii else off("unicode.compact_data")
        want = s.encode(codec)
        name = "unicode.ascii_data" if is_ascii else "unicode.compact_data"
        ok(name, raw(id(s) + data, len(want)) == want, repr(s))
    ok("unicode.state", True)


def u32_state(addr):
    return ctypes.c_uint32.from_address(addr).value


def check_long():
    bits = L["pylong.digit_bits"]
    ctype = ctypes.c_uint32 if bits == 30 else ctypes.c_uint16
    width = ctypes.sizeof(ctype)
    for n in (2 ** 100 + 12345, -(2 ** 77 + 3)):
        if PY2:
            n = long(n)  # noqa: F821 - Python 2 only
        mag = abs(n)
        ndigits = (mag.bit_length() + bits - 1) // bits
        base = id(n)
        field = ssize(base + off("pylong.size_or_tag"))
        if L["model.long"] == "LONG_LV_TAG":
            want = (ndigits << 3) | (2 if n < 0 else 0)
        else:
            want = ndigits if n > 0 else -ndigits
        ok("pylong.size_or_tag", field == want, "%d vs %d" % (field, want))
        value = 0
        for i in range(ndigits):
            d = ctype.from_address(base + off("pylong.digits") + i * width).value
            value |= d << (bits * i)
        ok("pylong.digits", value == mag, "%d vs %d" % (value, mag))
        ok("pylong.digit_bits", True)
    if has("pylong.py2_int_ival"):
        i = int("1234567")
        ok("pylong.py2_int_ival", ssize(id(i) + off("pylong.py2_int_ival")) == 1234567)


def check_dict():
    keys = ["key%d" % i for i in range(5)]
    values = [object() for _ in keys]
    d = {}
    for k, v in zip(keys, values):
        d[k] = v
    ok("dict.ma_used", ssize(id(d) + off("dict.ma_used")) == 5)
    # after a deletion the used count and the fill (2.7) or entry count differ
    d2 = dict(d)
    del d2[keys[0]]
    ok("dict.ma_used", ssize(id(d2) + off("dict.ma_used")) == len(d2) == 4)
    model = L["model.dict"]
    if model != "DICT_PY2":
        check_big_dict(model)
    if model == "DICT_PY2":
        mask = ssize(id(d) + off("dict.py2_ma_mask"))
        table = ptr(id(d) + off("dict.py2_ma_table"))
        ok("dict.py2_ma_mask", mask == 7, "mask %d" % mask)
        found = {}
        for i in range(mask + 1):
            e = table + 24 * i
            if ptr(e + 8):
                found[ptr(e + 8)] = (ssize(e), ptr(e + 16))
        want = dict((id(k), (hash(k), id(v))) for k, v in zip(keys, values))
        ok("dict.py2_ma_table", found == want, "%r" % found)
        return

    ok("dict.ma_values", ptr(id(d) + off("dict.ma_values")) == 0, "combined dict")
    dk = ptr(id(d) + off("dict.ma_keys"))
    nentries = ssize(dk + off("dictkeys.dk_nentries"))
    ok("dictkeys.dk_nentries", nentries == 5, "%d" % nentries)
    ok("dict.ma_keys", dk != 0)
    if model == "DICT_36":
        size = ssize(dk + off("dictkeys.dk_size"))
        ok("dictkeys.dk_size", size >= 8 and size & (size - 1) == 0 and size <= 255, "%d" % size)
        entries = dk + off("dictkeys.dk_indices") + size  # 1-byte indices below 256 slots
        check_entries(dk, size, 1, entries, 24, keys, values, True)
    else:
        log2 = u8(dk + off("dictkeys.dk_log2_size"))
        log2_ix = u8(dk + off("dictkeys.dk_log2_index_bytes"))
        kind = u8(dk + off("dictkeys.dk_kind"))
        ok("dictkeys.dk_log2_size", 3 <= log2 <= 7, "%d" % log2)
        ok("dictkeys.dk_log2_index_bytes", log2_ix == log2, "%d vs %d" % (log2_ix, log2))
        ok("dictkeys.dk_kind", kind == 1, "str keys: DICT_KEYS_UNICODE, got %d" % kind)
        entries = dk + off("dictkeys.dk_indices") + (1 << log2_ix)
        check_entries(dk, 1 << log2, 1, entries, 16, keys, values, False)
        # int keys: a general table with {hash, key, value} entries
        ikeys = [10 ** 12 + i for i in range(3)]
        di = dict((k, v) for k, v in zip(ikeys, values))
        dki = ptr(id(di) + off("dict.ma_keys"))
        ok("dictkeys.dk_kind", u8(dki + off("dictkeys.dk_kind")) == 0, "int keys: general")
        log2i = u8(dki + off("dictkeys.dk_log2_index_bytes"))
        entries = dki + off("dictkeys.dk_indices") + (1 << log2i)
        check_entries(dki, 1 << u8(dki + off("dictkeys.dk_log2_size")), 1, entries, 24, ikeys,
                      values[:3], True)


def check_big_dict(model):
    """200 keys: more than 128 slots, so the index array holds 2-byte indices."""
    keys = ["big%d" % i for i in range(200)]
    values = [object() for _ in keys]
    d = {}
    for k, v in zip(keys, values):
        d[k] = v
    dk = ptr(id(d) + off("dict.ma_keys"))
    nentries = ssize(dk + off("dictkeys.dk_nentries"))
    ok("dictkeys.dk_nentries", nentries == 200, "%d" % nentries)
    if model == "DICT_36":
        size = ssize(dk + off("dictkeys.dk_size"))
        ok("dictkeys.dk_size", 256 <= size <= 65536 and size & (size - 1) == 0, "%d" % size)
        ixsize = 2
    else:
        log2 = u8(dk + off("dictkeys.dk_log2_size"))
        log2_ix = u8(dk + off("dictkeys.dk_log2_index_bytes"))
        ok("dictkeys.dk_log2_size", 8 <= log2 <= 16, "%d" % log2)
        ok("dictkeys.dk_log2_index_bytes", log2_ix == log2 + 1, "%d vs %d" % (log2_ix, log2))
        size, ixsize = 1 << log2, 2
    entries = dk + off("dictkeys.dk_indices") + size * ixsize
    entry_size = 24 if model == "DICT_36" else 16
    got = []
    for i in (0, 1, 150, 199):
        e = entries + entry_size * i
        key = ptr(e + (8 if entry_size == 24 else 0))
        got.append(key == id(keys[i]) and ptr(e + entry_size - 8) == id(values[i]))
    ok("dictkeys.dk_indices", all(got), "entries %r" % got)
    slots = [ctypes.c_int16.from_address(entries - size * ixsize + 2 * j).value
             for j in range(size)]
    ok("dictkeys.dk_indices", sorted(x for x in slots if x >= 0) == list(range(200)))


def check_entries(dk, size, ixsize, entries, entry_size, keys, values, with_hash):
    got = []
    for i in range(len(keys)):
        e = entries + entry_size * i
        if with_hash:
            got.append((ssize(e), ptr(e + 8), ptr(e + 16)))
        else:
            got.append((ptr(e), ptr(e + 8)))
    if with_hash:
        want = [(hash(k), id(k), id(v)) for k, v in zip(keys, values)]
    else:
        want = [(id(k), id(v)) for k, v in zip(keys, values)]
    ok("dictkeys.dk_indices", got == want, "entries %r vs %r" % (got, want))
    # every entry is reachable from exactly one index slot
    slots = [ctypes.c_int8.from_address(entries - size * ixsize + j).value for j in range(size)]
    ok("dictkeys.dk_indices", sorted(s for s in slots if s >= 0) == list(range(len(keys))),
       "index slots %r" % slots)


def check_module():
    import os
    for m in (sys, os):
        ok("module.md_dict", ptr(id(m) + off("module.md_dict")) == id(m.__dict__), m.__name__)


def check_code():
    def sample(a, b=2):
        return a + b

    for c in (sample.__code__, check_code.__code__):
        base = id(c)
        ok("code.co_name", ptr(base + off("code.co_name")) == id(c.co_name))
        ok("code.co_filename", ptr(base + off("code.co_filename")) == id(c.co_filename))
        ok("code.co_firstlineno", i32(base + off("code.co_firstlineno")) == c.co_firstlineno)
        ok("code.co_flags", i32(base + off("code.co_flags")) == c.co_flags)
        table = c.co_lnotab if L["model.lines"] == "LINES_LNOTAB" else c.co_linetable
        ok("code.co_linetable", ptr(base + off("code.co_linetable")) == id(table))
        if has("code.co_qualname"):
            ok("code.co_qualname", ptr(base + off("code.co_qualname")) == id(c.co_qualname))
        if has("code.co_code"):
            ok("code.co_code", ptr(base + off("code.co_code")) == id(c.co_code))
            ok("code.size", type(c).__basicsize__ == off("code.size"))
        if has("code.co_code_adaptive"):
            # The code type is variable-sized: the bytecode follows the fixed part.
            adaptive = off("code.co_code_adaptive")
            ok("code.co_code_adaptive", type(c).__basicsize__ == adaptive,
               "basicsize %d" % type(c).__basicsize__)
            ok("code.size", adaptive < off("code.size") <= adaptive + 8)


# ---- threads, frames, interpreters -------------------------------------------------------


def check_tstate():
    ts = PyThreadState_Get()
    interp = main_interp()
    tid = ulong(ts + off("tstate.thread_id"))
    ok("tstate.thread_id", tid == get_ident(), "%x vs %x" % (tid, get_ident()))
    ok("tstate.interp", ptr(ts + off("tstate.interp")) == interp)
    if has("tstate.native_thread_id"):
        ok("tstate.native_thread_id",
           ulong(ts + off("tstate.native_thread_id")) == threading.get_native_id())

    # A second thread: thread states are pushed at the head of the interpreter's list.
    box = {}
    ready = threading.Event()
    release = threading.Event()

    def worker():
        box["ts"] = PyThreadState_Get()
        box["ident"] = get_ident()
        ready.set()
        release.wait(30)

    t = threading.Thread(target=worker)
    t.start()
    try:
        ready.wait(30)
        other = box["ts"]
        head = ptr(interp + off("interp.tstate_head"))
        ok("interp.tstate_head", head == other == PyInterpreterState_ThreadHead(interp),
           "%x, %x" % (head, other))
        ok("tstate.next", ptr(other + off("tstate.next")) == ts == PyThreadState_Next(other))
        ok("tstate.next", ptr(ts + off("tstate.next")) == (PyThreadState_Next(ts) or 0))
        if has("tstate.prev"):
            ok("tstate.prev", ptr(ts + off("tstate.prev")) == other)
            ok("tstate.prev", ptr(other + off("tstate.prev")) == 0)
        ok("tstate.thread_id", ulong(other + off("tstate.thread_id")) == box["ident"] == t.ident)
        if has("tstate.native_thread_id"):
            ok("tstate.native_thread_id",
               ulong(other + off("tstate.native_thread_id")) == t.native_id)
        check_tstate_size(other)
    finally:
        release.set()
        t.join()


def check_tstate_size(other):
    """sizeof(PyThreadState) against the size of the heap block CPython allocated for it.

    A new thread's state is malloc'ed (PyMem_RawMalloc/Calloc, or malloc in 2.7) with
    exactly that size; glibc records the block size (size + 8 rounded up to 16, or one
    16-byte step more when the rest of a reused free block is too small to split) in the
    word before the block. The rule is first checked on a block of our own, so another
    allocator is a skip, not a failure. 3.13 allocates a larger private struct and is
    checked against _Py_DebugOffsets instead."""
    if VER >= (3, 13):
        return
    size = off("tstate.size")
    libc = ctypes.CDLL(None)
    libc.malloc.restype = VP
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [VP]

    def fits(got, n):
        least = max(32, (n + 8 + 15) & ~15)
        return least <= got <= least + 16

    mine = libc.malloc(size)
    rule_holds = fits(u64(mine - 8) & ~7, size)
    libc.free(mine)
    if not rule_holds:
        print("SKIP tstate.size: the allocator does not record block sizes as glibc does")
        return
    got = u64(other - 8) & ~7
    ok("tstate.size", fits(got, size), "heap block of %d bytes for a %d-byte struct"
       % (got, size))


def check_interp():
    interp = main_interp()
    ok("interp.modules", ptr(interp + off("interp.modules")) == id(sys.modules))
    ok("interp.sysdict", ptr(interp + off("interp.sysdict")) == id(sys.__dict__))
    ok("interp.next", ptr(interp + off("interp.next")) == (PyInterpreterState_Next(interp) or 0))
    if has("interp.id"):
        ok("interp.id", i64(interp + off("interp.id")) == PyInterpreterState_GetID(interp) == 0)
    runtime = None
    if has("runtime.interpreters_head"):
        runtime = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
        ok("runtime.interpreters_head", ptr(runtime + off("runtime.interpreters_head")) == interp)
        ok("runtime.interpreters_main", ptr(runtime + off("runtime.interpreters_main")) == interp)
        main_ident = threading.main_thread().ident
        ok("runtime.main_thread", ulong(runtime + off("runtime.main_thread")) == main_ident)
    if has("runtime.tstate_current"):
        ok("runtime.tstate_current",
           ptr(runtime + off("runtime.tstate_current")) == PyThreadState_Get())
    if has("interp.ceval_gil"):
        gil = ptr(interp + off("interp.ceval_gil"))
        ok("interp.ceval_gil", gil != 0)
        ok("gil.locked", i32(gil + off("gil.locked")) == 1, "we hold the GIL")
        ok("gil.last_holder", ptr(gil + off("gil.last_holder")) == PyThreadState_Get())
    if has("interp.gc"):
        check_gc(interp + off("interp.gc"))
    check_subinterpreter(interp, runtime)


def check_gc(state):
    # struct _gc_runtime_state (Include/internal/pycore_gc.h, unchanged 3.9-3.13) starts
    # {PyObject *trash_delete_later; int trash_delete_nesting; int enabled; int debug;
    #  struct gc_generation {PyGC_Head head; int threshold; int count;} generations[3]; ...}
    # so `enabled` is at +12 and the thresholds at +40, +64, +88.
    saved = gc.get_threshold()
    was_enabled = gc.isenabled()
    try:
        gc.set_threshold(70123, 1117, 1319)
        got = [i32(state + 40 + 24 * g) for g in range(3)]
        ok("interp.gc", got == [70123, 1117, 1319], "thresholds %r" % got)
        gc.disable()
        off_value = i32(state + 12)
        gc.enable()
        on_value = i32(state + 12)
        ok("interp.gc", (off_value, on_value) == (0, 1), "enabled %r" % [off_value, on_value])
    finally:
        gc.set_threshold(*saved)
        if not was_enabled:
            gc.disable()


# Runs inside a subinterpreter; reports through a buffer of the main interpreter.
SUB_CODE = """
import ctypes, sys
api = ctypes.pythonapi
api.PyInterpreterState_Head.restype = ctypes.c_void_p
out = (ctypes.c_uint64 * 7).from_address(%(out)d)
head = api.PyInterpreterState_Head()
out[0] = head
out[1] = ctypes.c_void_p.from_address(head + %(next)d).value or 0
if %(id)d >= 0:
    api.PyInterpreterState_GetID.restype = ctypes.c_int64
    api.PyInterpreterState_GetID.argtypes = [ctypes.c_void_p]
    out[2] = ctypes.c_int64.from_address(head + %(id)d).value
    out[3] = api.PyInterpreterState_GetID(head)
if %(rt_head)d >= 0:
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    out[4] = ctypes.c_void_p.from_address(rt + %(rt_head)d).value or 0
    out[5] = ctypes.c_void_p.from_address(rt + %(rt_main)d).value or 0
out[6] = ctypes.c_void_p.from_address(head + %(modules)d).value == id(sys.modules)
"""


def check_subinterpreter(main, runtime):
    """With a second interpreter (the newest, so the list head), the interpreter list
    and IDs are not all NULLs and zeros."""
    try:
        import _testcapi
        run = _testcapi.run_in_subinterp
    except (ImportError, AttributeError):
        print("SKIP interp.next: no _testcapi.run_in_subinterp to start a subinterpreter")
        return
    out = (ctypes.c_uint64 * 7)()
    code = SUB_CODE % {"out": ctypes.addressof(out), "next": off("interp.next"),
                       "id": L["interp.id"], "modules": off("interp.modules"),
                       "rt_head": L["runtime.interpreters_head"],
                       "rt_main": L["runtime.interpreters_main"]}
    ok("interp.next", run(code) == 0, "the subinterpreter failed")
    sub = out[0]
    ok("interp.next", sub not in (0, main) and out[1] == main, "%x: next %x" % (sub, out[1]))
    ok("interp.modules", out[6] == 1, "the subinterpreter's sys.modules")
    if has("interp.id"):
        ok("interp.id", out[2] == out[3] > 0, "%d vs %d" % (out[2], out[3]))
    if runtime is not None:
        ok("runtime.interpreters_head", out[4] == sub, "%x vs %x" % (out[4], sub))
        ok("runtime.interpreters_main", out[5] == main, "%x vs %x" % (out[5], main))


def check_frames():
    if L["model.frame"] == "FRAME_OBJECTS":
        frame_objects_outer()
        check_f_lineno()
    else:
        marker = object()
        # Called from C (map), so 3.12+ put a shim frame owned by the C stack between.
        list(map(iframe_probe, [marker]))
        iframe_caller(marker)
        gen = generator_probe()
        cur, owner, code = next(gen)
        ok("iframe.owner", owner == 1, "FRAME_OWNED_BY_GENERATOR, got %d" % owner)
        ok("iframe.executable", code == id(generator_probe.__code__))
        ok("iframe.owner", id(gen) < cur < id(gen) + sys.getsizeof(gen), "frame in the generator")


def frame_objects_outer():
    frame_objects_inner()


def frame_objects_inner():
    f = sys._getframe()
    ts = PyThreadState_Get()
    # Read inline: a helper function would be the current frame while it reads.
    current = VP.from_address(ts + off("tstate.frame")).value
    ok("tstate.frame", current == id(f), "%x vs %x" % (current, id(f)))
    ok("frame.f_back", ptr(id(f) + off("frame.f_back")) == id(f.f_back))
    ok("frame.f_code", ptr(id(f) + off("frame.f_code")) == id(f.f_code))
    back = f.f_back
    lasti = i32(id(back) + off("frame.f_lasti"))
    unit = 2 if L["model.lines"] == "LINES_LINETABLE_310" else 1  # 3.10 counts code units
    ok("frame.f_lasti", lasti * unit == back.f_lasti and lasti > 0,
       "%d vs %d" % (lasti, back.f_lasti))

    def tracer(frame, event, arg):
        return None

    back.f_trace = tracer
    try:
        ok("frame.f_trace", ptr(id(back) + off("frame.f_trace")) == id(tracer))
    finally:
        back.f_trace = None


def check_f_lineno():
    seen = []

    def tracer(frame, event, arg):
        if frame.f_code is traced.__code__ and event == "line":
            seen.append((i32(id(frame) + off("frame.f_lineno")), frame.f_lineno,
                         frame.f_code.co_firstlineno))
        return tracer

    sys.settrace(tracer)
    try:
        traced()
    finally:
        sys.settrace(None)
    ok("frame.f_lineno", len(seen) >= 2, "line events %r" % seen)
    for raw_line, line, first in seen:
        ok("frame.f_lineno", raw_line == line and line > first, "%r" % ((raw_line, line, first),))


def traced():
    x = 1
    x += 1
    return x


def generator_probe():
    ts = PyThreadState_Get()
    if L["model.frame"] == "IFRAME_313":
        cur = VP.from_address(ts + off("tstate.frame")).value
    else:
        cframe = ptr(ts + off("tstate.cframe"))
        cur = VP.from_address(cframe + off("cframe.current_frame")).value
    yield cur, u8(cur + off("iframe.owner")), ptr(cur + off("iframe.executable"))


def iframe_caller(marker):
    iframe_probe(marker)


def iframe_probe(marker):
    f = sys._getframe()
    ts = PyThreadState_Get()
    # The current frame is read inline: in a helper function, the helper would be current.
    if L["model.frame"] == "IFRAME_313":
        cur = VP.from_address(ts + off("tstate.frame")).value
    else:
        cframe = ptr(ts + off("tstate.cframe"))  # the eval loop's, shared by inlined calls
        cur = VP.from_address(cframe + off("cframe.current_frame")).value
    name = "tstate.frame" if L["model.frame"] == "IFRAME_313" else "cframe.current_frame"
    code = ptr(cur + off("iframe.executable"))
    ok(name, code == id(f.f_code), "%x vs %x" % (code, id(f.f_code)))
    if has("tstate.cframe"):
        ok("tstate.cframe", True)
    ok("iframe.executable", code == id(iframe_probe.__code__))
    ok("iframe.localsplus", ptr(cur + off("iframe.localsplus")) == id(marker), "first local")
    ok("iframe.owner", u8(cur + off("iframe.owner")) == 0, "FRAME_OWNED_BY_THREAD")
    start = code + off("code.co_code_adaptive")
    ip = ptr(cur + off("iframe.instr_ptr"))
    ok("iframe.instr_ptr", start <= ip < start + len(f.f_code.co_code),
       "%x not in [%x, +%d)" % (ip, start, len(f.f_code.co_code)))
    # inline: calling ptr() pushes a frame, which may even start a new chunk
    chunk = VP.from_address(ts + off("tstate.datastack_chunk")).value
    limit = VP.from_address(ts + off("tstate.datastack_limit")).value
    # inline again: a call to ptr() would push its frame above this one
    top = VP.from_address(ts + off("tstate.datastack_top")).value
    ok("tstate.datastack_chunk", 0 < chunk < cur, "%x %x" % (chunk, cur))
    # The innermost frame ends the used stack: it takes co_framesize words, which are
    # FRAME_SPECIALS_SIZE = (sizeof(_PyInterpreterFrame) - 1) / 8, then the locals
    # (no cells here), then the value stack.
    c = f.f_code
    end = cur + 8 * ((off("iframe.size") - 1) // 8 + c.co_nlocals + c.co_stacksize)
    ok("tstate.datastack_top", top == end, "top %x, frame %x ends at %x" % (top, cur, end))
    ok("iframe.size", top == end)
    ok("tstate.datastack_limit", top < limit, "%x %x" % (top, limit))
    # _PyStackChunk (Include/cpython/pystate.h) is {previous, size, top, data[]}, and
    # the limit is the end of the current chunk: chunk + chunk->size.
    ok("tstate.datastack_limit", limit == chunk + u64(chunk + 8),
       "limit %x, chunk %x of %d bytes" % (limit, chunk, u64(chunk + 8)))

    prev = ptr(cur + off("iframe.previous"))
    if has("iframe.owned_by_cstack"):
        shims = 0
        while prev and u8(prev + off("iframe.owner")) == off("iframe.owned_by_cstack"):
            shims += 1
            prev = ptr(prev + off("iframe.previous"))
        called_from_c = f.f_back.f_code is check_frames.__code__
        ok("iframe.owned_by_cstack", shims == (1 if called_from_c else 0),
           "%d shim frames" % shims)
    ok("iframe.previous", ptr(prev + off("iframe.executable")) == id(f.f_back.f_code))


# ---- 3.13+: the interpreter's own _Py_DebugOffsets -----------------------------------------

DEBUG_OFFSETS_313 = [
    # (debug offsets member, our field); order of Include/internal/pycore_runtime.h (3.13)
    ("runtime_state.size", None), ("runtime_state.finalizing", None),
    ("runtime_state.interpreters_head", "runtime.interpreters_head"),
    ("interpreter_state.size", None), ("interpreter_state.id", "interp.id"),
    ("interpreter_state.next", "interp.next"),
    ("interpreter_state.threads_head", "interp.tstate_head"),
    ("interpreter_state.gc", "interp.gc"), ("interpreter_state.imports_modules", "interp.modules"),
    ("interpreter_state.sysdict", "interp.sysdict"), ("interpreter_state.builtins", None),
    ("interpreter_state.ceval_gil", "interp.ceval_gil"),
    ("interpreter_state.gil_runtime_state", None),
    ("interpreter_state.gil_runtime_state_enabled", None),
    # these two are published from the interpreter state, through its own _gil
    ("interpreter_state.gil_runtime_state_locked", "gil.locked"),
    ("interpreter_state.gil_runtime_state_holder", "gil.last_holder"),
    ("thread_state.size", "tstate.size"), ("thread_state.prev", "tstate.prev"),
    ("thread_state.next", "tstate.next"), ("thread_state.interp", "tstate.interp"),
    ("thread_state.current_frame", "tstate.frame"), ("thread_state.thread_id", "tstate.thread_id"),
    ("thread_state.native_thread_id", "tstate.native_thread_id"),
    ("thread_state.datastack_chunk", "tstate.datastack_chunk"), ("thread_state.status", None),
    ("interpreter_frame.size", "iframe.size"), ("interpreter_frame.previous", "iframe.previous"),
    ("interpreter_frame.executable", "iframe.executable"),
    ("interpreter_frame.instr_ptr", "iframe.instr_ptr"),
    ("interpreter_frame.localsplus", "iframe.localsplus"),
    ("interpreter_frame.owner", "iframe.owner"),
    ("code_object.size", "code.size"), ("code_object.filename", "code.co_filename"),
    ("code_object.name", "code.co_name"), ("code_object.qualname", "code.co_qualname"),
    ("code_object.linetable", "code.co_linetable"),
    ("code_object.firstlineno", "code.co_firstlineno"),
]


def check_debug_offsets():
    if VER != (3, 13):
        return  # the member list above is 3.13's; later versions add members
    runtime = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    ok("debug_offsets", raw(runtime, 8) == b"xdebugpy", "cookie %r" % raw(runtime, 8))
    base = runtime + 8 + 8 + 8  # cookie, version, free_threaded
    members = [m for m, _ in DEBUG_OFFSETS_313]
    gil_base = u64(base + 8 * members.index("interpreter_state.gil_runtime_state"))
    for i, (member, ours) in enumerate(DEBUG_OFFSETS_313):
        if ours is None:
            continue
        published = u64(base + 8 * i)
        if ours.startswith("gil."):
            published -= gil_base
        ok(ours, published == off(ours), "%s publishes %d" % (member, published))


def main():
    check("object", check_object)
    check("seq", check_seq)
    check("type", check_type)
    check("unicode", check_unicode)
    check("pylong", check_long)
    check("dict", check_dict)
    check("module", check_module)
    check("code", check_code)
    check("tstate", check_tstate)
    check("interp", check_interp)
    check("frames", check_frames)
    check("debug_offsets", check_debug_offsets)
    print("DONE %d" % failures[0])


main()
