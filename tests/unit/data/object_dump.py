# Dumps real CPython objects, with the memory they live in, for the walker's unit tests.
#
# Run by tests/unit/test_objects.c and tests/unit/test_walk.c as
#     pythonX.Y object_dump.py mode=<objects|walk|threads> <layout field>=<value> ...
# The layout fields (same names as pydbg__layout, "-1" = none) are only used to
# follow pointers, so that every block a decoder will read gets dumped: the
# expected values come from the interpreter itself (id(), ==, .encode('utf-8'),
# iteration order, getattr), never from libpydebug.
#
# Memory is read through /proc/self/mem, so a generous block that runs past the
# end of a mapping is cut short instead of crashing the dumper. Output, one
# record a line (addresses and numbers in hex unless said otherwise):
#     V <major> <minor>
#     T code=.. str=.. bytes=.. dict=.. module=.. long=.. int=..   type objects
#     R <address> <hex bytes>                                       a memory region
#     S <name> <address> <hex utf-8>      a string that decodes to that text
#     SE <name> <address>                 an object the string decoder must refuse
#     I <name> <address> <decimal>        an int that decodes to that value
#     IE <name> <address>                 an int that does not fit in 64 bits
#     D <name> <address> <count>          a dict, then <count> lines:
#     K <key address> <value address>     its items, in iteration order
#     G <dict name> <hex key> <value address>   d[key] for a str key
#     GN <dict name> <hex key>            a str key that is absent
#     A <name> <object> <attribute> <value address>   getattr()
#     AN <name> <object> <attribute>      an attribute that is not in __dict__
#     C <name> <address> <first line> <hex name> <hex filename> <hex qualname|->
#     L <code name> <byte offset> <line>  the line of an instruction (walk mode)
#     X <name> <hex value>                other facts (threads mode)
#     DONE
# Must run on 2.7 and every 3.x: no f-strings.
import binascii
import ctypes
import sys
import threading

PY2 = sys.version_info[0] == 2
VER = sys.version_info[:2]
L = {}
for _arg in sys.argv[1:]:
    _k, _v = _arg.split("=", 1)
    try:
        L[_k] = int(_v, 0)
    except ValueError:
        L[_k] = _v
MODE = L.get("mode", "objects")
OUT = []
MEM = open("/proc/self/mem", "rb", 0)
PAGE = 4096
BLOCKS = []  # (start, end) requests, merged and read at the end
KEEP = []    # every object whose address is printed stays alive until the end


def off(name):
    return L.get(name, -1)


def hexs(data):
    h = binascii.hexlify(data)
    return h.decode("ascii") if not PY2 else h


def utf8_hex(text):
    if PY2 and isinstance(text, str):
        return hexs(text)
    # Lone surrogates are documented to decode as U+FFFD.
    clean = u"".join(u"\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return hexs(clean.encode("utf-8"))


def read_mem(address, length):
    """The bytes at [address, address+length), or None if any is unreadable."""
    try:
        MEM.seek(address)
        data = MEM.read(length)
    except (IOError, OSError, OverflowError, ValueError):
        return None
    if data is None or len(data) != length:
        return None
    return data


def word(address):
    data = read_mem(address, 8)
    if data is None:
        return 0
    return int(binascii.hexlify(data[::-1]), 16)


def byte_at(address):
    data = read_mem(address, 1)
    return bytearray(data)[0] if data else 0


def block(address, length, before=0):
    if address and length > 0:
        BLOCKS.append((max(address - before, 0), address + length))


def obj(o, extra=64):
    """The object itself: a header's worth before it (GC head, managed dict) and after."""
    KEEP.append(o)
    try:
        size = sys.getsizeof(o)
    except TypeError:
        size = 64
    block(id(o), size + extra, before=64)
    if PY2 and isinstance(o, unicode):  # noqa: F821
        # 2.7 unicode objects keep their text in a separate Py_UNICODE buffer
        width = 4 if sys.maxunicode > 0xFFFF else 2
        block(word(id(o) + 24), (len(o) + 1) * width)
    return id(o)


def raw_object(address, length=256):
    block(address, length, before=64)


def dump_keys(keys):
    """A PyDictKeysObject: header, indices and every entry, and the key objects."""
    if not keys:
        return
    entries_at = keys + off("dictkeys.dk_indices")
    if VER >= (3, 11):
        log2_size = byte_at(keys + off("dictkeys.dk_log2_size"))
        log2_index = byte_at(keys + off("dictkeys.dk_log2_index_bytes"))
        kind = byte_at(keys + off("dictkeys.dk_kind"))
        if log2_size > 24 or log2_index > 30:
            return
        entries_at += 1 << log2_index
        entry_size = 24 if kind == 0 else 16
        size = 1 << log2_size
    else:
        size = word(keys + off("dictkeys.dk_size"))
        if size == 0 or size > (1 << 24):
            return
        width = 1 if size <= 0xff else 2 if size <= 0xffff else 4 if size <= 0xffffffff else 8
        entries_at += size * width
        entry_size = 24
    nentries = word(keys + off("dictkeys.dk_nentries"))
    if nentries > size:
        nentries = size
    block(keys, entries_at - keys + (size * 2 // 3 + 1) * entry_size + 64, before=64)
    key_at = 8 if entry_size == 24 else 0
    for i in range(nentries):
        key = word(entries_at + i * entry_size + key_at)
        if key:
            raw_object(key, 512)
    return nentries


def dump_values(values, count):
    """A split table's values (with the bytes 3.12/3.13 keep in front of or after them)."""
    if values:
        block(values, off("dictkeys.values_array") + 8 * count + 256, before=64)


def dump_dict(address):
    if not address:
        return
    raw_object(address, 128)
    if VER < (3, 0):
        mask = word(address + off("dict.py2_ma_mask"))
        table = word(address + off("dict.py2_ma_table"))
        if mask < (1 << 22) and table:
            block(table, (mask + 1) * 24)
            for i in range(mask + 1):
                key = word(table + i * 24 + 8)
                if key:
                    raw_object(key, 512)
        return
    keys = word(address + off("dict.ma_keys"))
    n = dump_keys(keys) or 0
    values = word(address + off("dict.ma_values"))
    if values:
        dump_values(values, max(n, 64))


def dump_dict_object(d):
    KEEP.append(d)
    dump_dict(id(d))
    for k in d:
        obj(k)
    return id(d)


def dump_instance(o):
    """An instance and wherever its version keeps its attributes."""
    tp = type(o)
    obj(o, extra=512)
    KEEP.append(tp)
    block(id(tp), sys.getsizeof(tp) + 256, before=64)
    if off("type.ht_cached_keys") >= 0:
        keys = word(id(tp) + off("type.ht_cached_keys"))
        n = dump_keys(keys) or 0
    else:
        n = 0
    model = L.get("model.instdict", 1)
    flags = word(id(tp) + off("type.tp_flags"))
    managed = off("type.flag_managed_dict")
    if model != 1 and managed > 0 and flags & managed:
        slot = word(id(o) - 24)
        if model == 3 and slot & 1:
            dump_values(slot + 1, max(n, 64))
        elif slot:
            dump_dict(slot)
        if model == 2:
            dump_values(word(id(o) - 32), max(n, 64))
        if model == 4:
            block(id(o) + tp.__basicsize__, 8 * max(n, 64) + 256)
    else:
        doff = word(id(tp) + off("type.tp_dictoffset"))
        if 0 < doff < (1 << 20):
            dump_dict(word(id(o) + doff))
    return id(o)


def emit(*fields):
    OUT.append(" ".join(str(f) for f in fields))


def h(n):
    return "0x%x" % n


def types_line():
    import types
    t = {"code": id(types.CodeType), "dict": id(dict), "module": id(type(sys)),
         "long": id(int if not PY2 else long)}  # noqa: F821 (2.7)
    if PY2:
        t["str"] = id(unicode)  # noqa: F821
        t["bytes"] = id(str)
        t["int"] = id(int)
        # sizeof(Py_UNICODE): 4 on wide (UCS4) builds, 2 on narrow ones.
        t["unicode_width"] = 4 if sys.maxunicode > 0xFFFF else 2
    else:
        t["str"] = id(str)
        t["bytes"] = id(bytes)
        t["int"] = 0
    emit("T", " ".join("%s=%s" % (k, h(v)) for k, v in sorted(t.items())))


# ---- objects ------------------------------------------------------------------------------


def u(text):
    return text.decode("unicode_escape") if PY2 else text


def native(text):
    """A str of the running version (UTF-8 bytes on 2.7) from an escaped literal."""
    return u(text).encode("utf-8") if PY2 else text


def objects_mode():
    strings = [
        ("ascii", u("hello, world")),
        ("empty", u("")),
        ("latin1", u("caf\\xe9 d\\xe9j\\xe0 vu \\xff")),
        ("ucs2_greek", u("\\u03b4\\u03b5\\u03bb\\u03c4\\u03b1")),
        ("ucs2_cjk", u("\\u4e2d\\u6587 \\u540d\\u5b57")),
        ("ucs4_emoji", u("smile \\U0001f600 \\U0001f680!")),
        ("long_ascii", u("x") * 9000),
        ("long_ucs2", u("\\xe9") * 3000 + u("\\u4e2d") * 2000),
        ("long_ucs4", u("\\U0001f600") * 3000),
        ("long_latin1", u("\\xe9") * 9000),
        ("mixed_ucs4", u("a\\xe9\\u4e2d\\U0001f600") * 10),
    ]
    if not PY2:
        strings.append(("surrogate", "a\ud800b\udfffc"))
    for name, s in strings:
        if PY2:
            # names and filenames are byte strings on 2.7; unicode is documented as accepted
            b = s.encode("utf-8")
            emit("S", "py2_bytes_" + name, h(obj(b)), utf8_hex(b))
            if name in ("ascii", "ucs2_greek"):
                emit("S", "py2_unicode_" + name, h(obj(s)), utf8_hex(s))
                obj(s)
                # 2.7 unicode objects keep their text in a separate buffer
                raw_object(word(id(s) + 24), 256)
        else:
            emit("S", name, h(obj(s)), utf8_hex(s))
            b = s.encode("utf-8", "surrogatepass")
            emit("SE", "bytes_" + name, h(obj(b)))
    emit("SE", "int_not_a_string", h(obj(12345678901)))
    emit("SE", "dict_not_a_string", h(obj({})))

    ints = [0, 1, 7, 255, 256, 1000, 2 ** 30 - 1, 2 ** 30, 2 ** 31, 2 ** 32 + 5, 2 ** 60,
            2 ** 62 + 12345, 2 ** 63, 2 ** 64 - 1]
    for i, v in enumerate(ints):
        if PY2:
            emit("I", "long_%d" % i, h(obj(long(v))), v)  # noqa: F821
            if v < 2 ** 63:
                emit("I", "int_%d" % i, h(obj(int(v))), v)
        else:
            emit("I", "int_%d" % i, h(obj(int(v) + 0)), v)
    for i, v in enumerate([-1, -5, -(2 ** 40), 2 ** 64, 2 ** 64 + 1, 2 ** 70, 2 ** 100]):
        emit("IE", "bad_%d" % i, h(obj(v if not PY2 else long(v))))  # noqa: F821
    if PY2:
        emit("IE", "py2_neg_int", h(obj(int(-7))))
    emit("IE", "str_not_an_int", h(obj(u("12"))))

    class Plain(object):
        def __init__(self, n):
            self.alpha = u("a%d" % n)
            self.beta = 1000 + n
            self.gamma = None

    dicts = []
    dicts.append(("small", {"a": 1, "bb": 2, "ccc": 3}))
    dicts.append(("empty", {}))
    big = {}
    for i in range(1000):
        big["key%d" % i] = i * 7
    dicts.append(("large", big))
    holes = {}
    for i in range(40):
        holes["h%d" % i] = i
    for i in range(0, 40, 3):
        del holes["h%d" % i]
    holes["h0"] = u("back")  # re-inserted: goes to the end
    dicts.append(("deleted", holes))
    dicts.append(("mixed_keys", {1: u("one"), (2, 3): u("tuple"), "s": u("str"),
                                 2.5: None, "t": 4}))
    dicts.append(("unicode_keys", {u("\\xe9t\\xe9"): 1, u("\\u4e2d"): 2, u("\\U0001f600"): 3}))
    p1, p2, p3 = Plain(1), Plain(2), Plain(3)
    dicts.append(("split_1", p1.__dict__))
    dicts.append(("split_2", p2.__dict__))
    p4 = Plain(4)
    del p4.beta
    p4.beta = 77  # deleted and set again: order changes
    dicts.append(("split_reordered", p4.__dict__))
    q1 = Plain(5)
    q2 = Plain.__new__(Plain)
    q2.gamma = 1  # the shared keys in another order
    q2.alpha = 2
    q2.beta = 3
    dicts.append(("split_other_order", q2.__dict__))
    dicts.append(("module_dict", threading.__dict__))
    for name, d in dicts:
        KEEP.append(d)
        items = list(d.items())
        emit("D", name, h(dump_dict_object(d)), len(items))
        for k, v in items:
            obj(v)
            emit("K", h(id(k)), h(id(v)))
        for k, v in items:
            if isinstance(k, str):
                emit("G", name, utf8_hex(k), h(id(v)))
        emit("GN", name, utf8_hex("no_such_key"))

    # Instances: attributes never materialised as a dict, materialised, grown past
    # the shared keys, and many attributes.
    plain = [Plain(10 + i) for i in range(4)]
    plain[1].__dict__  # noqa: B018 (materialise the dict)
    plain[2].extra = u("more")
    plain[3].__dict__["dyn"] = 5
    for i in range(40):
        setattr(plain[3], "f%d" % i, i)
    wide = Plain.__new__(Plain)
    for i in range(60):
        setattr(wide, "w%d" % i, i)
    for i, p in enumerate(plain + [p1, q1, wide]):
        name = "plain_%d" % i
        emit_attrs(name, p, ["alpha", "beta", "gamma", "extra", "dyn", "f39", "w59"])
    emit_attrs("plain_missing", Plain(99), ["missing"])
    th = threading.Thread(target=len, name=native("worker-\\xfc-\\u4e2d"))
    attr = "_Thread__name" if PY2 else "_name"
    emit_attrs("thread", th, [attr, "missing"])
    emit_attrs("main_thread", threading.current_thread(), [attr])
    KEEP.extend([plain, wide, th, p1, p2, p3, p4, q1, q2])


def emit_attrs(name, o, attrs):
    dump_instance(o)
    # Attribute dicts of the old layout (and values still shared) are found by name.
    for a in attrs:
        try:
            v = object.__getattribute__(o, a)
        except AttributeError:
            emit("AN", name, h(id(o)), a)
            continue
        obj(v)
        emit("A", name, h(id(o)), a, h(id(v)))


# ---- walk ---------------------------------------------------------------------------------


def alpha_function(x):
    y = x + 1
    z = y * 2
    return z


def beta_function_with_a_longer_name(a, b):
    total = 0
    for i in range(a):
        total += i * b
    return total


def code_lines(co):
    """(offset, line) pairs that CPython itself reports."""
    pairs = []
    if hasattr(co, "co_lines"):
        for start, end, line in co.co_lines():
            if line is not None and end > start:
                pairs.append((start, line))
                pairs.append((end - 2, line))
    else:
        import dis
        starts = list(dis.findlinestarts(co))
        for start, line in starts:
            pairs.append((start, line))
    return pairs


def dump_code(name, co):
    obj(co, extra=256)
    fields = [co.co_name, co.co_filename]
    obj(co.co_name)
    obj(co.co_filename)
    qual = getattr(co, "co_qualname", None)
    if qual is not None:
        obj(qual)
    table = co.co_linetable if hasattr(co, "co_linetable") else co.co_lnotab
    obj(table)
    if VER < (3, 11):
        obj(co.co_code)
    emit("C", name, h(id(co)), co.co_firstlineno, utf8_hex(fields[0]), utf8_hex(fields[1]),
         utf8_hex(qual) if qual is not None else "-")
    size = len(co.co_code)
    emit("X", name + ".code_bytes", h(size))
    for offset, line in code_lines(co):
        if 0 <= offset < size:
            emit("L", name, offset, line)


def walk_mode():
    dump_code("alpha", alpha_function.__code__ if not PY2 else alpha_function.func_code)
    beta = beta_function_with_a_longer_name
    dump_code("beta", beta.__code__ if not PY2 else beta.func_code)
    emit("SE", "a_string", h(obj(u("not code"), extra=1024)))


# ---- threads ------------------------------------------------------------------------------


def function_names(frame):
    names = []
    while frame is not None and len(names) < 1000:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def dump_tstate(ts):
    block(ts, max(off("tstate.size"), 256) + 64, before=64)
    if off("tstate.cframe") >= 0:
        cframe = word(ts + off("tstate.cframe"))
        block(cframe, 64)
        top = word(cframe + off("cframe.current_frame")) if cframe else 0
    else:
        top = word(ts + off("tstate.frame"))
    seen = 0
    while top and seen < 500:
        seen += 1
        if VER >= (3, 11):
            block(top, max(off("iframe.size"), 64) + 128)
            code = word(top + off("iframe.executable"))
            nxt = word(top + off("iframe.previous"))
        else:
            block(top, 512, before=64)
            code = word(top + off("frame.f_code"))
            nxt = word(top + off("frame.f_back"))
        if code:
            raw_object(code, 512)
            for f in ("code.co_name", "code.co_filename", "code.co_qualname", "code.co_linetable",
                      "code.co_code"):
                if off(f) >= 0:
                    raw_object(word(code + off(f)), 4096)
        top = nxt


def threads_mode():
    ready = threading.Event()
    release = threading.Event()

    def level1():
        ready.set()
        release.wait(30)

    def level2():
        level1()

    def level3():
        level2()

    worker = threading.Thread(target=level3, name=native("walker-\\xfc"))
    worker.start()
    ready.wait(30)
    import time
    time.sleep(0.05)  # let the worker block inside the wait
    try:
        api = ctypes.pythonapi
        api.PyThreadState_Get.restype = ctypes.c_void_p
        main_ts = api.PyThreadState_Get()
        interp = word(main_ts + off("tstate.interp"))
        emit("X", "interp", h(interp))
        emit("X", "worker_ident", h(worker.ident))
        emit("X", "main_ident", h(threading.current_thread().ident))
        frames = sys._current_frames()
        names = function_names(frames[worker.ident])
        emit("X", "worker_stack", utf8_hex(u(" ".join(names))))
        emit("X", "worker_name", utf8_hex(worker.name))
        emit("X", "main_name", utf8_hex(threading.current_thread().name))
        if VER >= (3, 7):
            runtime = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
            emit("X", "runtime", h(runtime))
            block(runtime, 4096)
        else:
            api.PyInterpreterState_Head.restype = ctypes.c_void_p
            emit("X", "interp_head", h(api.PyInterpreterState_Head()))
            emit("X", "tstate_current", h(main_ts))
            emit("X", "main_thread", h(threading.current_thread().ident))
        block(interp, 8192)
        if off("interp.ceval_gil") >= 0:
            block(word(interp + off("interp.ceval_gil")), 256)
        ts = word(interp + off("interp.tstate_head"))
        count = 0
        while ts and count < 100:
            count += 1
            dump_tstate(ts)
            ts = word(ts + off("tstate.next"))
        # threading's names: sys.modules -> threading -> _active -> Thread._name
        modules = word(interp + off("interp.modules"))
        if modules == id(sys.modules):
            dump_dict_object(sys.modules)
        obj(threading)
        dump_dict_object(threading.__dict__)
        dump_dict_object(threading._active)
        for ident, t in threading._active.items():
            obj(ident)
            dump_instance(t)
            obj(t.name)
            emit("X", "thread_name_%x" % ident, utf8_hex(t.name))
    finally:
        release.set()
    finalize()
    worker.join(30)


def finalize():
    """Reads and prints every requested block, merged, once."""
    spans = sorted(BLOCKS)
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    regions = []
    for start, end in merged:
        # page by page so one unmapped page costs only itself
        at = start
        cur_start, cur = None, []
        while at < end:
            page_end = min((at // PAGE + 1) * PAGE, end)
            data = read_mem(at, page_end - at)
            if data is None:
                if cur:
                    regions.append((cur_start, b"".join(cur)))
                cur_start, cur = None, []
            else:
                if cur_start is None:
                    cur_start = at
                cur.append(data)
            at = page_end
        if cur:
            regions.append((cur_start, b"".join(cur)))
    for start, data in regions:
        OUT.append("R %s %s" % (h(start), hexs(data)))
    OUT.append("DONE")


def main():
    emit("V", VER[0], VER[1])
    types_line()
    if MODE == "objects":
        objects_mode()
        finalize()
    elif MODE == "walk":
        walk_mode()
        finalize()
    elif MODE == "threads":
        threads_mode()
    sys.stdout.write("\n".join(OUT) + "\n")
    sys.stdout.flush()


main()
