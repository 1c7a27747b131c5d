# Installed (through PYTHONPATH) in every case run by gen_corpus.py: when
# TBTRUTH_OUT is set, records CPython's own structured view of the uncaught
# exception (traceback.TracebackException; extract_tb on 2.7) as JSON, then
# lets the interpreter print it as usual. Runs on 2.7 and 3.6+.
import json
import os
import sys

_OUT = os.environ.get("TBTRUTH_OUT")


def _names(t):
    return {"module": getattr(t, "__module__", None),
            "qualname": getattr(t, "__qualname__", None) or t.__name__,
            "name": t.__name__}


def _frame(fs):
    line = fs.line if hasattr(fs, "line") else fs[3]
    if hasattr(fs, "filename"):
        return [fs.filename, fs.lineno, fs.name, line or None]
    return [fs[0], fs[1], fs[2], line or None]


def _te_type(te):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = getattr(te, "exc_type", None)
    d = _names(t) if t is not None else {}
    d["printed"] = getattr(te, "exc_type_str", None)
    return d


def _message(te):
    if _is_syntax(te) and getattr(te, "msg", None) is not None:
        msg = te.msg
    else:
        msg = te._str
    notes = getattr(te, "__notes__", None)
    if notes:
        msg = "\n".join([msg] + [str(n) for n in notes]) if msg else "\n".join(
            str(n) for n in notes)
    return msg


def _is_syntax(te):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = getattr(te, "exc_type", None)
    if t is not None:
        return issubclass(t, SyntaxError)
    return getattr(te, "_is_syntax_error", False)


def _c_chain(value, seen):
    # 2.7 - 3.12 print with C code (pythonrun.c) that follows the exception
    # objects, skipping any already printed anywhere in this print: the cause
    # (or context) chain first, then the exception, then a group's members.
    seen.add(id(value))
    chain, rel = [], None
    cause, context = value.__cause__, value.__context__
    if cause is not None:
        if id(cause) not in seen:
            chain, rel = _c_chain(cause, seen), "cause"
    elif context is not None and not value.__suppress_context__:
        if id(context) not in seen:
            chain, rel = _c_chain(context, seen), "context"
    import traceback
    te = traceback.TracebackException(type(value), value, value.__traceback__, limit=None)
    d = _one(te)
    d["relation"] = rel
    subs = getattr(value, "exceptions", None)
    if subs is not None and isinstance(value, BaseExceptionGroup):  # noqa: F821 - 3.11+
        d["group"] = [_c_chain(s, seen) for s in subs[:15]]
        d["more_exceptions"] = max(0, len(subs) - 15)
    return chain + [d]


def _te_chain(te):
    # 3.13+ print with traceback.py: exactly TracebackException.format().
    out = []
    exc = te
    while exc is not None:
        if exc.__cause__ is not None:
            rel, nxt = "cause", exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            rel, nxt = "context", exc.__context__
        else:
            rel, nxt = None, None
        out.append((rel, exc))
        exc = nxt
    out.reverse()
    result = []
    for rel, exc in out:
        d = _one(exc)
        d["relation"] = rel  # printed as the separator before it
        subs = getattr(exc, "exceptions", None)
        if subs:
            d["group"] = [_te_chain(s) for s in subs[:15]]
            d["more_exceptions"] = max(0, len(subs) - 15)
        result.append(d)
    return result


def _one(te):
    d = {"type": _te_type(te), "message": _message(te),
         "has_traceback": bool(te.stack),
         "frames": [_frame(f) for f in te.stack]}
    if _is_syntax(te) and getattr(te, "filename", None) is not None:
        d["syntax"] = {"filename": te.filename,
                       "line": int(te.lineno) if te.lineno is not None else None,
                       "text": te.text,
                       "offset": te.offset}
    return d


def _hook(etype, value, tb):
    try:
        if sys.version_info[0] >= 3:
            if value.__traceback__ is None:
                value.__traceback__ = tb
            if sys.version_info >= (3, 13):
                import traceback
                chain = _te_chain(traceback.TracebackException(etype, value, tb, limit=None,
                                                               compact=True))
            else:
                chain = _c_chain(value, set())
            truth = {"kind": "exception", "exceptions": chain}
        else:
            import traceback
            if issubclass(etype, SyntaxError) and getattr(value, "filename", None):
                msg = value.msg
            else:
                msg = str(value) if not isinstance(value, unicode) else value  # noqa: F821
            d = {"type": _names(etype), "message": msg, "relation": None,
                 "has_traceback": tb is not None,
                 "frames": [_frame(f) for f in traceback.extract_tb(tb)]}
            if issubclass(etype, SyntaxError) and getattr(value, "filename", None):
                d["syntax"] = {"filename": value.filename, "line": int(value.lineno),
                               "text": value.text, "offset": value.offset}
            truth = {"kind": "exception", "exceptions": [d]}
        with open(_OUT, "w") as f:
            json.dump(truth, f)
    finally:
        sys.__excepthook__(etype, value, tb)


if _OUT:
    sys.excepthook = _hook
