#!/usr/bin/env python3
"""Generates the traceback corpus: every case of cases/ run under every
installed CPython, keeping what the interpreter printed (case.txt) next to its
own structured view of it (case.truth.json, written by site/sitecustomize.py
from traceback.TracebackException, or by the case itself for thread dumps).

    gen_corpus.py OUTDIR
"""
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYENV = "/root/.pyenv/versions"


def interpreters():
    found = []
    for path in sorted(glob.glob(os.path.join(PYENV, "*", "bin", "python"))):
        m = re.match(r"(\d+)\.(\d+)\.(\d+)$", os.path.basename(os.path.dirname(os.path.dirname(path))))
        if m:
            found.append(((int(m.group(1)), int(m.group(2))), m.group(0), path))
    if os.path.exists("/usr/bin/python3.11"):
        found.append(((3, 11), "3.11-debian", "/usr/bin/python3.11"))
    return found


def case_meta(path):
    meta = {"py2": False, "min": (3, 6), "env": {}, "stdin": False, "kind": "exception"}
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            m = re.match(r"#\s*(\w+):\s*(.*)", line)
            if not m:
                continue
            key, value = m.group(1), m.group(2).strip()
            if key == "py2":
                meta["py2"] = value == "yes"
            elif key == "min":
                meta["min"] = tuple(int(x) for x in value.split("."))
            elif key == "env":
                meta["env"] = dict(kv.split("=", 1) for kv in value.split())
            elif key == "run":
                meta["stdin"] = value == "stdin"
            elif key == "kind":
                meta["kind"] = value
    return meta


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    produced = []
    for version, label, python in interpreters():
        for case in sorted(glob.glob(os.path.join(HERE, "cases", "*.py"))):
            meta = case_meta(case)
            if version[0] == 2 and not meta["py2"]:
                continue
            if version[0] == 3 and version < meta["min"]:
                continue
            name = "%s-%s" % (label, os.path.splitext(os.path.basename(case))[0])
            text_path = os.path.join(outdir, name + ".txt")
            truth_path = os.path.join(outdir, name + ".truth.json")
            if os.path.exists(truth_path):
                os.unlink(truth_path)
            env = dict(os.environ)
            for k in ("PYTHONSTARTUP", "PYTHONHOME", "PYTHONWARNINGS", "NO_COLOR",
                      "FORCE_COLOR", "PYTHON_COLORS"):
                env.pop(k, None)
            env["PYTHONPATH"] = os.path.join(HERE, "site")
            env["TBTRUTH_OUT"] = truth_path
            env["PYTHONIOENCODING"] = "utf-8"
            env.update(meta["env"])
            if meta["stdin"]:
                with open(case, "rb") as src:
                    proc = subprocess.run([python, "-"], stdin=src, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env, cwd=outdir,
                                          timeout=60)
            else:
                proc = subprocess.run([python, case], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env, cwd=outdir, timeout=60)
            if not os.path.exists(truth_path):
                sys.stderr.write("gen_corpus: %s wrote no ground truth (exit %d):\n%s\n"
                                 % (name, proc.returncode, proc.stderr.decode(errors="replace")))
                continue
            with open(text_path, "wb") as f:
                f.write(proc.stderr)
            produced.append((name, label, version, meta))
    return produced


if __name__ == "__main__":
    for item in generate(sys.argv[1]):
        print(item[0])
