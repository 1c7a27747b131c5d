"""The public API as declared: every PYDBG_API declaration in include/**/*.h.

Shared by the header tests (tests/header), the export check (tests/unit/test_exports.py)
and anything else that must agree with the headers. It reads the headers as text, after
removing comments and preprocessor lines, so it needs no compiler; it refuses a
PYDBG_API declaration it cannot read rather than skipping it.
"""

import pathlib
import re

_TOKENS = re.compile(
    r'//[^\n]*'                        # line comment
    r'|/\*.*?\*/'                      # block comment
    r'|"(?:\\.|[^"\\\n])*"'            # string literal (kept: may hold "/*")
    r"|'(?:\\.|[^'\\\n])*'",           # character literal
    re.S)
_IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
# Identifiers that can stand before a '(' in a declaration without being its name.
_NOT_A_NAME = {'__attribute__', '__declspec', '__asm__', 'asm', '_Alignas', 'alignas'}


class Declaration:
    def __init__(self, name, kind, header, line, text, doc):
        self.name = name      # the C name, e.g. "pydbg_strerror"
        self.kind = kind      # "function" or "object"
        self.header = header  # path relative to the include directory
        self.line = line      # 1-based line of PYDBG_API in the header
        self.text = text      # the declaration after PYDBG_API, on one line
        self.doc = doc        # the /** ... */ comment right before it, or None

    @property
    def returns_pointer(self):
        return self.kind == 'function' and '*' in self.text.split(self.name, 1)[0]

    def __repr__(self):
        return f'{self.header}:{self.line}: {self.kind} {self.name}'


def _strip_comments(text):
    def blank(match):
        token = match.group(0)
        if token.startswith('/'):
            # Same length, same newlines: offsets in the result are offsets in the header.
            return re.sub(r'[^\n]', ' ', token)
        return token
    return _TOKENS.sub(blank, text)


def _doc_before(original, offset):
    """The /** */ comment that ends right before offset (only blanks between), or None."""
    head = original[:offset].rstrip()
    if not head.endswith('*/'):
        return None
    start = head.rfind('/*')
    if start < 0 or not head.startswith('/**', start):
        return None
    return head[start:]


def _strip_preprocessor(text):
    out = []
    continued = False
    for line in text.split('\n'):
        directive = continued or line.lstrip().startswith('#')
        continued = directive and line.rstrip().endswith('\\')
        out.append(' ' * len(line) if directive else line)
    return '\n'.join(out)


def headers(include_dir):
    """Every public header, umbrella first, then sorted by path."""
    include_dir = pathlib.Path(include_dir)
    found = sorted(p for p in include_dir.rglob('*.h') if p.is_file())
    umbrella = include_dir / 'pydebug.h'
    return ([umbrella] if umbrella in found else []) + [p for p in found if p != umbrella]


def _parse_one(decl, where):
    paren = None
    for match in _IDENT.finditer(decl):
        rest = decl[match.end():].lstrip()
        word = match.group(0)
        if rest.startswith('(') and word not in _NOT_A_NAME and not word.isupper():
            paren = word
            break
    if paren:
        return paren, 'function'
    names = [w for w in _IDENT.findall(re.sub(r'\[[^\]]*\]', '', decl)) if not w.isupper()]
    if not names:
        raise ValueError(f'{where}: cannot read the PYDBG_API declaration {decl!r}')
    return names[-1], 'object'


def declarations(include_dir):
    """Every PYDBG_API declaration of the public headers, in header order."""
    include_dir = pathlib.Path(include_dir)
    result = []
    for path in headers(include_dir):
        original = path.read_text(encoding='utf-8')
        text = _strip_preprocessor(_strip_comments(original))
        rel = path.relative_to(include_dir).as_posix()
        for match in re.finditer(r'\bPYDBG_API\b', text):
            line = text.count('\n', 0, match.start()) + 1
            end = re.compile(r'[;{]').search(text, match.end())
            if not end:
                raise ValueError(f'{rel}:{line}: PYDBG_API declaration without an end')
            decl = ' '.join(text[match.end():end.start()].split())
            name, kind = _parse_one(decl, f'{rel}:{line}')
            result.append(Declaration(name, kind, rel, line, decl,
                                      _doc_before(original, match.start())))
    return result
