def load(d):
    try:
        return d["scores"]
    except KeyError as e:
        raise RuntimeError("bad report: %s" % (e,)) from e


load({})
