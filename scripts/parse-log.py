#!/usr/bin/env python3
"""Judge a guest console log written by scripts/boot.sh.

Reads the TAP blocks guest/init prints between '##SUITE <name> BEGIN' and
'##SUITE <name> END rc=<rc> secs=<s>', counts every test, and fails the run
on any kernel WARN, BUG, oops, lockdep or KASAN report anywhere in the log,
even if every test passed. Appends one line per result to RESULTS
('PASS|FAIL|SKIP<TAB>machine/suite<TAB>test') and prints a per-suite summary.

Usage: parse-log.py MACHINE LOG RESULTS [--expect suite,suite,...]
"""
import argparse
import re
import sys

# Kernel reports that fail a run. Fault injection (iommufd_fail_nth) prints
# stack traces on purpose, so plain 'Call Trace:' is not on this list.
KERNEL_PROBLEMS = re.compile(
    r'(WARNING: |BUG: |Oops|Kernel panic|KASAN|UBSAN|'
    r'possible circular locking|possible recursive locking|'
    r'inconsistent lock state|suspicious RCU usage|'
    r'general protection fault|Unable to handle kernel|'
    r'INFO: task .* blocked|cut here)')

TAP_RESULT = re.compile(r'^(\s*)(not ok|ok) (\d+)\s*(?:- )?(.*?)(\s+#\s*(SKIP|TODO)\b.*)?$')
SUITE_BEGIN = re.compile(r'^##SUITE (\S+) BEGIN')
SUITE_END = re.compile(r'^##SUITE (\S+) END rc=(\d+) secs=([\d.]+)')


def suite_depth(name):
    """TAP nesting level whose results are counted as tests for a suite.

    KUnit's debugfs results nest every test one level under its suite line;
    the kselftest harness and guest/init print flat TAP.
    """
    return 1 if name == 'kunit' else 0


def parse(lines):
    """Split the console log into suites and kernel problem lines."""
    suites, problems, current, done = {}, [], None, False
    for raw in lines:
        line = raw.rstrip('\r\n')
        # QEMU's serial console can prefix the kernel's console lines.
        if KERNEL_PROBLEMS.search(line) and not line.startswith('#'):
            problems.append(line.strip())
        if line.startswith('##GUEST-DONE'):
            done = True
            continue
        m = SUITE_BEGIN.match(line)
        if m:
            current = {'name': m.group(1), 'results': [], 'rc': None,
                       'secs': None, 'plan': None}
            suites[current['name']] = current
            continue
        m = SUITE_END.match(line)
        if m and current and m.group(1) == current['name']:
            current['rc'], current['secs'] = int(m.group(2)), float(m.group(3))
            current = None
            continue
        if current is None:
            continue
        m = TAP_RESULT.match(line)
        if m:
            depth = len(m.group(1).expandtabs(4)) // 4
            if depth != suite_depth(current['name']):
                continue
            status = 'FAIL' if m.group(2) == 'not ok' else 'PASS'
            if m.group(6) == 'SKIP' and status == 'PASS':
                status = 'SKIP'
            current['results'].append((status, m.group(4) or m.group(3)))
            continue
        m = re.match(r'^1\.\.(\d+)$', line)
        if m:
            current['plan'] = current.get('plan') or 0
            current['plan'] += int(m.group(1))
    return suites, problems, done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('machine')
    ap.add_argument('log')
    ap.add_argument('results')
    ap.add_argument('--expect', default='')
    args = ap.parse_args()

    with open(args.log, errors='replace') as f:
        suites, problems, done = parse(f)

    out = []
    for name in [s for s in args.expect.split(',') if s and s not in suites]:
        out.append(('FAIL', name, 'suite did not run (guest crashed or timed out before it)'))
    for name, s in suites.items():
        for status, test in s['results']:
            out.append((status, name, test))
        counted = len(s['results'])
        if s['rc'] is None:
            out.append(('FAIL', name, 'suite did not finish (crash or timeout)'))
        elif s['rc'] != 0 and not any(r[0] == 'FAIL' for r in s['results']):
            out.append(('FAIL', name, f'suite exited {s["rc"]} without a failing test'))
        if name != 'kunit' and s['plan'] is not None and counted < s['plan']:
            out.append(('FAIL', name, f'{s["plan"] - counted} planned tests never reported'))
        if counted == 0 and s['rc'] is not None:
            out.append(('FAIL', name, 'suite reported no test'))
    if not done:
        out.append(('FAIL', 'guest', 'guest did not reach the end of its run'))
    if problems:
        out.append(('FAIL', 'kernel-log', f'{len(problems)} kernel report line(s): '
                    + ' | '.join(problems[:3])))
    else:
        out.append(('PASS', 'kernel-log', 'no WARN/BUG/oops/lockdep/KASAN/UBSAN report'))

    with open(args.results, 'a') as f:
        for status, suite, test in out:
            f.write(f'{status}\t{args.machine}/{suite}\t{test}\n')

    for name, s in suites.items():
        n = {k: sum(1 for r in out if r[1] == name and r[0] == k)
             for k in ('PASS', 'FAIL', 'SKIP')}
        secs = f'{s["secs"]:.0f}s' if s['secs'] is not None else 'unfinished'
        print(f'  {args.machine}/{name}: {n["PASS"]} passed, {n["FAIL"]} failed, '
              f'{n["SKIP"]} skipped ({secs})')
    for status, suite, test in out:
        if status == 'FAIL':
            print(f'  FAIL {args.machine}/{suite}: {test}')
    return 1 if any(r[0] == 'FAIL' for r in out) else 0


if __name__ == '__main__':
    sys.exit(main())
