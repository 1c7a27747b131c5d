#!/usr/bin/env python3
"""The pydebug(1) manual page against the tool it documents.

    check_manpage.py --page docs/pydebug.1 --pydebug build/cli/pydebug --version 1.0.0

Ground truth is the tool itself: `pydebug --help` lists the commands, and
`pydebug COMMAND --help` each command's options. Checks that
- groff renders the page without a single warning (-ww);
- the page is for this version (.TH ... "libpydebug X.Y.Z");
- every command has --help and -h, exiting 0 with its usage on standard output;
- every command is in the page's SYNOPSIS and COMMANDS, and every option its --help lists
  is described in the page.
"""

import argparse
import re
import shutil
import subprocess
import sys


def run(command):
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)


def sections(source):
    """{section name: roff source} for every .SH of the page."""
    out, name = {}, None
    for line in source.splitlines():
        m = re.match(r'\.SH\s+"?([^"]+)"?', line)
        if m:
            name = m.group(1).strip()
            out[name] = ''
        elif name:
            out[name] += line + '\n'
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--page', required=True)
    parser.add_argument('--pydebug', required=True)
    parser.add_argument('--version', required=True)
    args = parser.parse_args()
    problems = []

    groff = shutil.which('groff')
    if not groff:
        print('FAIL: groff not found; run .ci/install-deps (Debian package groff-base)')
        return 1
    rendered = run([groff, '-man', '-Tutf8', '-ww', '-z', args.page])
    if rendered.returncode != 0 or rendered.stderr.strip():
        problems.append('groff warns about the page:\n' + rendered.stderr)

    with open(args.page, encoding='utf-8') as f:
        source = f.read()
    # What a reader sees: roff's \- is a plain hyphen-minus.
    plain = source.replace('\\-', '-')
    parts = sections(plain)
    th = re.search(r'^\.TH\s+PYDEBUG\s+1\s+\S+\s+"libpydebug ([^"]+)"', plain, re.M)
    if not th or th.group(1) != args.version:
        problems.append('.TH says %s, the project is %s' % (th and th.group(1), args.version))

    top = run([args.pydebug, '--help'])
    commands = []
    if top.returncode != 0:
        problems.append('pydebug --help exited with %d' % top.returncode)
    else:
        listing = top.stdout.split('commands:', 1)[-1]
        commands = re.findall(r'^  ([a-z][a-z0-9-]*)\s', listing, re.M)
    if not commands:
        problems.append('pydebug --help lists no command:\n' + top.stdout)

    for command in commands:
        helps = {}
        for flag in ('--help', '-h'):
            result = run([args.pydebug, command, flag])
            helps[flag] = result.stdout
            if result.returncode != 0 or 'usage:' not in result.stdout:
                problems.append('pydebug %s %s: exit %d, no usage on stdout (stderr: %s)' %
                                (command, flag, result.returncode, result.stderr.strip()))
        if not re.search(r'^\.B %s$' % re.escape(command), parts.get('SYNOPSIS', ''), re.M):
            problems.append('command %s is not in the SYNOPSIS' % command)
        if not re.search(r'^\.B %s$' % re.escape(command), parts.get('COMMANDS', ''), re.M):
            problems.append('command %s is not described under COMMANDS' % command)
        options = sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*)', helps['--help'])))
        for option in options:
            if option == '--help':
                continue
            if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(option),
                             parts.get('COMMANDS', '')):
                problems.append('option %s of %s is not described under COMMANDS' %
                                (option, command))
        print('%-10s --help ok; %d options, all in the page' % (command, len(options)))

    if problems:
        print('FAIL: the manual page and the tool disagree:\n  ' + '\n  '.join(problems))
        return 1
    print('pydebug(1) documents all %d commands of the tool' % len(commands))
    return 0


if __name__ == '__main__':
    sys.exit(main())
