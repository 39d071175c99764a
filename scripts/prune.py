#!/usr/bin/env python3
"""Remove upstream's IOMMU dirty tracking from a Linux 6.12.y tree.

Usage: prune.py --tree DIR [--rules prune/rules] [--dry-run]

Every rule in the rules file names a file and an identifier; the rule
kinds are documented at the top of prune/rules.  The rules are applied in
order, in memory; files are written only when every rule matched exactly
what it expects.  On the first rule that does not match (not found, found
more or fewer times than expected, or in a shape the rule cannot remove
cleanly) the script prints one "prune: drift: ..." line and exits 1
without touching the tree.
"""

import argparse
import os
import re
import sys

IDENT = r"[A-Za-z_]\w*"
OPEN, CLOSE = "([{", ")]}"
CTRL_WORDS = ("if", "else", "for", "while", "do", "switch", "case", "default")


class Drift(Exception):
    """A rule did not match the tree exactly as it expects."""


# --------------------------------------------------------------------------
# Lexing: blank out comments, literals and preprocessor lines
# --------------------------------------------------------------------------

def _blank(chars, a, b):
    """Replace chars[a:b] by spaces, keeping newlines."""
    for i in range(a, b):
        if chars[i] != "\n":
            chars[i] = " "


def lex(text):
    """Return (cs, code, comments) for C source text.

    cs is text with comments and the contents of string/char literals
    replaced by spaces; code is cs with preprocessor directives blanked
    too.  Both keep every offset and newline of text.  comments is a list
    of (start, end) offsets of the comments.
    """
    chars, comments = list(text), []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] not in (c, "\n"):
                j += 2 if text[j] == "\\" else 1
            _blank(chars, i + 1, min(j, n))
            i = j + 1
            continue
        else:
            i += 1
            continue
        _blank(chars, i, j)
        comments.append((i, j))
        i = j
    cs = "".join(chars)
    code = list(cs)
    for m in re.finditer(r"(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", cs):
        _blank(code, m.start(), m.end())
    return cs, "".join(code), comments


def match_forward(mask, pos):
    """Offset of the bracket closing the one at mask[pos]."""
    depth = 0
    for i in range(pos, len(mask)):
        c = mask[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
            if depth == 0:
                return i
    raise Drift("unbalanced brackets")


def enclosing(mask, pos, kinds="{"):
    """Offset of the innermost unclosed bracket of kinds before pos, or -1."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        c = mask[i]
        if c in CLOSE:
            depth += 1
        elif c in OPEN:
            if depth:
                depth -= 1
            elif c in kinds:
                return i
    return -1


def brace_depth(mask, pos):
    """Number of braces open at pos."""
    return mask.count("{", 0, pos) - mask.count("}", 0, pos)


def skip_ws(mask, pos, step=1):
    """First offset from pos (moving by step) that is not whitespace."""
    while 0 <= pos < len(mask) and mask[pos].isspace():
        pos += step
    return pos


def words(mask, name, lo=0, hi=None):
    """Offsets of whole-word occurrences of name in mask[lo:hi]."""
    hi = len(mask) if hi is None else hi
    pat = re.compile(r"(?<![\w])" + re.escape(name) + r"(?![\w])")
    return [m.start() for m in pat.finditer(mask, lo, hi)]


def line_start(text, pos):
    """Offset of the start of the line holding pos."""
    return text.rfind("\n", 0, pos) + 1


def line_end(text, pos):
    """Offset just past the newline ending the line holding pos."""
    j = text.find("\n", pos)
    return len(text) if j < 0 else j + 1


# --------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------

def statement_at(mask, pos, groups_end=True):
    """(start, end) of the statement or list entry holding pos.

    The statement is delimited by ';' or ',' at the level of the innermost
    enclosing brace (or file scope); end includes that delimiter, or stops
    before the closing brace of the enclosing list.  With groups_end, a
    brace group closing at that level (a compound statement) also ends
    the previous statement; without it, "struct { ... } name;" is one
    statement.  A leading "label:" or "case X:" is not part of it.
    """
    b = enclosing(mask, pos)
    lo = b + 1
    hi = match_forward(mask, b) if b >= 0 else len(mask)
    depth, start, i = 0, lo, lo
    while i < hi:
        c = mask[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
            if depth == 0 and c == "}" and groups_end and i < pos:
                start = i + 1
        elif depth == 0 and c in ";,":
            if i >= pos:
                return _skip_label(mask, start), i + 1
            start = i + 1
        i += 1
    return _skip_label(mask, start), hi


def _skip_label(mask, start):
    """Move start past a leading "label:", "case X:" or "default:"."""
    m = re.match(r"\s*(?:case\b[^;:?]*|default|" + IDENT + r")\s*:(?!:)",
                 mask[start:start + 200])
    if m and not mask[start:start + m.end()].strip().startswith("?"):
        return start + m.end()
    return start


def first_word(mask, a, b):
    """First identifier of mask[a:b], or ''."""
    m = re.match(r"\s*(" + IDENT + ")", mask[a:b])
    return m.group(1) if m else ""


# --------------------------------------------------------------------------
# Source files
# --------------------------------------------------------------------------

class Source:
    """One C source file being edited in memory."""

    def __init__(self, path, rel):
        """Read path (rel is the path shown in messages)."""
        self.path, self.rel = path, rel
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            self.orig = f.read()
        self.set(self.orig)

    def set(self, text):
        """Replace the text and recompute the masks."""
        self.text = text
        self.cs, self.code, self.comments = lex(text)

    def write(self):
        """Write the text back if it changed."""
        if self.text != self.orig:
            with open(self.path, "w", encoding="utf-8",
                      errors="surrogateescape") as f:
                f.write(self.text)

    # -- scopes -----------------------------------------------------------

    def function(self, name):
        """(start, end) of the body braces of function name's definition."""
        found = [d for d in self.func_items(name) if d[2]]
        if len(found) != 1:
            raise Drift(f"not found (function {name} is defined "
                        f"{len(found)} times)")
        return found[0][2]

    def scope(self, func):
        """(lo, hi) offsets to search: a function body or the whole file."""
        if not func:
            return 0, len(self.text)
        return self.function(func)

    # -- file-scope items -------------------------------------------------

    def decl_start(self, pos):
        """Start of the line where the declaration holding pos begins."""
        ls = line_start(self.text, pos)
        while ls > 0:
            prev = line_start(self.text, ls - 1)
            code = self.code[prev:ls].strip()
            if not code or code[-1] in ";{}":
                break
            ls = prev
        return ls

    def func_items(self, name):
        """[(start, end, body)] for definitions and prototypes of name."""
        out = []
        for p in words(self.code, name):
            q = skip_ws(self.code, p + len(name))
            if q >= len(self.code) or self.code[q] != "(":
                continue
            before = self.code[:p].rstrip()
            if before and before[-1] not in "*" and not before[-1].isalnum() \
                    and before[-1] != "_":
                continue
            if brace_depth(self.code, p) or enclosing(self.code, p, "([") >= 0:
                continue
            if first_word(self.code, line_start(self.code, p), p) in \
                    ("return",) or re.search(r"=\s*$", before):
                continue
            e = match_forward(self.code, q)
            while True:
                e = skip_ws(self.code, e + 1)
                m = re.match(IDENT, self.code[e:])
                if m:
                    e += m.end() - 1       # attribute word, e.g. __init
                    nxt = skip_ws(self.code, e + 1)
                    if self.code[nxt:nxt + 1] == "(":
                        e = match_forward(self.code, nxt)
                    continue
                break
            c = self.code[e:e + 1]
            if c == ";":
                out.append((self.decl_start(p), e + 1, None))
            elif c == "{":
                close = match_forward(self.code, e)
                out.append((self.decl_start(p), close + 1, (e, close)))
        return out

    def var_items(self, name):
        """[(start, end)] of file-scope declarations of variable name."""
        out = []
        for p in words(self.code, name):
            if brace_depth(self.code, p) or enclosing(self.code, p, "([") >= 0:
                continue
            q = skip_ws(self.code, p + len(name))
            if self.code[q:q + 1] not in ("=", ";", "["):
                continue
            before = self.code[:p].rstrip()
            if not re.search(r"[\w*]$", before):
                continue
            s, e = statement_at(self.code, p)
            out.append((line_start(self.text, skip_ws(self.code, s)), e))
        return out

    def type_items(self, name):
        """[(start, end)] of struct/union/enum name definitions and
        forward declarations."""
        out = []
        pat = re.compile(r"\b(?:struct|union|enum)\s+" + re.escape(name) +
                         r"\s*([{;])")
        for m in pat.finditer(self.code):
            if brace_depth(self.code, m.start()):
                continue
            ls = line_start(self.code, m.start())
            if not re.fullmatch(r"\s*(?:typedef\s+)?",
                                self.code[ls:m.start()]):
                continue
            e = m.end() - 1
            if m.group(1) == "{":
                e = self.code.index(";", match_forward(self.code, e))
            out.append((ls, e + 1))
        return out

    def define_items(self, name):
        """[(start, end)] of #define name lines with continuations."""
        pat = re.compile(r"(?m)^[ \t]*#[ \t]*define[ \t]+" +
                         re.escape(name) + r"\b(?:[^\n]*\\\n)*[^\n]*\n?")
        return [(m.start(), m.end()) for m in pat.finditer(self.cs)]

    def struct_body(self, name):
        """(open, close) brace offsets of struct or union name."""
        items = [(a, b) for a, b in self.type_items(name)
                 if "{" in self.code[a:b]]
        if len(items) != 1:
            raise Drift(f"not found (struct {name} is defined "
                        f"{len(items)} times)")
        a = self.code.index("{", items[0][0])
        return a, match_forward(self.code, a)

    # -- comments -----------------------------------------------------------

    def comment_before(self, ls):
        """(start, end) of a comment ending on the line before offset ls,
        alone on its lines; or None."""
        if ls == 0:
            return None
        prev = line_start(self.text, ls - 1)
        if self.text[prev:ls].strip() == "" or self.cs[prev:ls].strip():
            return None
        for a, b in self.comments:
            if prev <= b <= ls and self.text[b:ls].strip() == "":
                cs = line_start(self.text, a)
                if self.text[cs:a].strip() or self.cs[cs:a].strip():
                    return None
                if self.text.startswith("//", a):
                    more = self.comment_before(cs)
                    if more and self.text.startswith("//", more[0]):
                        return more[0], b
                return cs, b
        return None

    def doc_entry(self, comment, name):
        """(start, end) line span of the kernel-doc "@name:" entry in the
        comment span, or None."""
        a, b = comment
        lines, pos = [], a
        for ln in self.text[a:b].splitlines(keepends=True):
            lines.append((pos, ln))
            pos += len(ln)
        at = [i for i, (_, ln) in enumerate(lines)
              if re.match(r"\s*(?:/\*\*|\*)\s*@" + re.escape(name) +
                          r"\s*:", ln)]
        if not at:
            return None
        k = at[0]
        if k == 0:
            raise Drift(f"kernel-doc entry @{name} shares the comment's "
                        "first line")
        end = k + 1
        while end < len(lines):
            ln = lines[end][1]
            if re.match(r"\s*\*\s*@\w+\s*:", ln) or "*/" in ln:
                break
            end += 1
        if end == len(lines) or "*/" in lines[end][1]:
            # last entry: stop at the first blank comment line
            end = k + 1
            while end < len(lines) and \
                    re.fullmatch(r"\s*\*\s*\S.*\n?", lines[end][1]) and \
                    "*/" not in lines[end][1]:
                end += 1
        start = lines[k][0]
        stop = lines[end][0] if end < len(lines) else b
        return start, stop

    # -- editing ------------------------------------------------------------

    def check_whole_lines(self, a, b, what):
        """Raise Drift unless text[a:b] spans whole lines of code (a
        trailing comment on the last line is allowed)."""
        ls = line_start(self.text, a)
        le = line_end(self.text, max(a, b - 1))
        if self.text[ls:a].strip() or self.cs[b:le].strip():
            raise Drift(f"{what} shares a line with other code")
        return ls, le

    def lines_of(self, a, b):
        """Line indexes (first, last) covering offsets a..b-1."""
        return self.text.count("\n", 0, a), self.text.count("\n", 0, b - 1)

    def delete(self, spans, comment="auto"):
        """Delete the line spans [(a, b)], each with its leading comment
        (always with comment="always", when it is alone in its paragraph
        with "auto", never with "never") and one surplus blank line."""
        lines = self.text.splitlines(keepends=True)
        drop = set()
        for a, b in spans:
            ls, le = self.check_whole_lines(a, b, "removed code")
            if comment != "never":
                c = self.comment_before(ls)
                if c and (comment == "always" or self._alone(c[0], le)):
                    ls = c[0]
            first, last = self.lines_of(ls, le)
            drop.update(range(first, last + 1))
        _collapse_blanks(lines, drop)
        self.set("".join(ln for i, ln in enumerate(lines) if i not in drop))

    def _alone(self, cstart, le):
        """True if the item ending at le, with a comment starting at
        cstart, forms a paragraph of its own."""
        before = self.text[:cstart].rstrip(" \t")
        prev_ok = before == "" or before.endswith("\n\n") or \
            before.rstrip().endswith("{")
        after = self.text[le:].lstrip(" \t")
        next_ok = after == "" or after.startswith("\n") or \
            after.startswith("}")
        return prev_ok and next_ok

    def replace(self, a, b, new):
        """Replace text[a:b] by new."""
        self.set(self.text[:a] + new + self.text[b:])


def _collapse_blanks(lines, drop):
    """Add to drop the blank lines that deleting the lines in drop would
    leave doubled, or leave right after a "{" or right before a "}"."""
    n = len(lines)
    for first, last in _runs(sorted(drop)):
        p = first - 1
        while p >= 0 and p in drop:
            p -= 1
        q = last + 1
        while q < n and q in drop:
            q += 1
        prev = lines[p].strip() if p >= 0 else ""
        nxt = lines[q].strip() if q < n else None
        if nxt == "" and (prev == "" or prev.endswith("{")):
            drop.add(q)
        elif prev == "" and p >= 0 and (nxt is None or nxt.startswith("}")):
            drop.add(p)


def _runs(idx):
    """Group sorted integers into (first, last) runs."""
    out = []
    for i in idx:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return [tuple(r) for r in out]


# --------------------------------------------------------------------------
# Rule kinds
# --------------------------------------------------------------------------

def expect(found, count):
    """Raise Drift unless exactly count matches were found."""
    if not found:
        raise Drift("not found")
    if len(found) != count:
        raise Drift(f"found {len(found)} times, expected {count}")


def rule_func(src, func, name, count):
    """func FILE NAME: delete the definitions and prototypes of function
    NAME (with their comment and a trailing EXPORT_SYMBOL line)."""
    items = src.func_items(name)
    expect(items, count)
    spans = []
    for a, b, body in items:
        m = re.match(r"\s*EXPORT_SYMBOL\w*\(\s*" + re.escape(name) +
                     r"\s*\);", src.code[b:])
        spans.append((a, b + m.end() if m else b))
    src.delete(spans, comment="always")


def rule_var(src, func, name, count):
    """var FILE NAME: delete file-scope declarations/definitions of
    variable NAME."""
    items = src.var_items(name)
    expect(items, count)
    src.delete(items, comment="always")


def rule_struct(src, func, name, count):
    """struct FILE NAME: delete the struct/union/enum NAME definitions and
    forward declarations."""
    items = src.type_items(name)
    expect(items, count)
    src.delete(items, comment="always")


def rule_define(src, func, name, count):
    """define FILE NAME: delete #define NAME with continuation lines."""
    items = src.define_items(name)
    expect(items, count)
    src.delete(items)


def rule_member(src, func, args, count):
    """member FILE STRUCT MEMBER: delete a member declaration of struct or
    union STRUCT (also inside nested anonymous structs/unions) and its
    kernel-doc "@MEMBER:" entry."""
    struct, name = args
    lo, hi = src.struct_body(struct)
    found = set()
    for p in words(src.code, name, lo, hi):
        q = skip_ws(src.code, p + len(name))
        nxt = src.code[q:q + 1]
        before = src.code[:p].rstrip()
        if nxt in (";", "[", ":") or (nxt == ")" and before.endswith("*")):
            found.add(statement_at(src.code, p, groups_end=False))
    expect(found, count)
    doc = src.comment_before(line_start(src.text, src.decl_start(lo)))
    entry = doc and src.doc_entry(doc, name)
    spans = sorted(found)
    src.delete([(skip_ws(src.code, a), b) for a, b in spans])
    if entry:
        src.set(src.text[:entry[0]] + src.text[entry[1]:])


def rule_enumval(src, func, args, count):
    """enumval FILE NAME [reserve]: delete enumerator NAME and its
    kernel-doc entry; with reserve, leave a comment that its value stays
    reserved (the enumerator must have an explicit value)."""
    name, opts = args[0], args[1:]
    found = []
    for p in words(src.code, name):
        b = enclosing(src.code, p)
        if b < 0 or not re.search(r"\benum\b(\s+" + IDENT + r")?\s*$",
                                  src.code[:b]):
            continue
        q = skip_ws(src.code, p + len(name))
        if src.code[q:q + 1] in ("=", ",", "}"):
            found.append((p, b))
    expect(found, 1 if count == 1 else -1)
    p, b = found[0]
    a, e = statement_at(src.code, p)
    a = skip_ws(src.code, a)
    entry_text = src.code[a:e]
    val = re.search(r"=\s*(.*?)\s*,?\s*$", entry_text, re.S)
    nxt = skip_ws(src.code, e)
    follows = re.match(IDENT + r"\s*([=,}])", src.code[nxt:])
    implicit_next = follows and follows.group(1) != "="
    if opts == ["reserve"]:
        if not val:
            raise Drift(f"enumerator {name} has no explicit value to reserve")
        if implicit_next:
            raise Drift(f"enumerator after {name} has an implicit value")
        ls, le = src.check_whole_lines(a, e, f"enumerator {name}")
        indent = src.text[ls:a]
        src.replace(ls, le, f"{indent}/* {val.group(1)} is reserved: "
                    "its command was removed, do not reuse */\n")
    elif opts:
        raise Drift(f"unknown option {' '.join(opts)}")
    else:
        if implicit_next and src.rel.startswith("include/uapi/"):
            raise Drift(f"removing {name} renumbers the uAPI enumerators "
                        "after it (use reserve)")
        src.delete([(a, e)], comment="never")
    enum_line = src.decl_start(b)
    doc = src.comment_before(enum_line)
    entry = doc and src.doc_entry(doc, name)
    if entry:
        src.set(src.text[:entry[0]] + src.text[entry[1]:])


def rule_line(src, func, name, count):
    """line FILE[:FUNC] IDENT: delete each simple statement, declaration,
    initializer entry or list entry that mentions IDENT."""
    lo, hi = src.scope(func)
    found = set()
    for p in words(src.code, name, lo, hi):
        a, e = statement_at(src.code, p)
        a = skip_ws(src.code, a)
        if first_word(src.code, a, e) in CTRL_WORDS:
            raise Drift(f"{name} is in a control statement (use block)")
        found.add((a, e))
    expect(found, count)
    src.delete(sorted(found))


def if_statement(src, p):
    """(start, end) of the if statement whose "if" keyword is at p,
    starting at a preceding "else" if any."""
    q = skip_ws(src.code, p + 2)
    close = match_forward(src.code, q)
    body = skip_ws(src.code, close + 1)
    if src.code[body] == "{":
        end = match_forward(src.code, body) + 1
    else:
        if first_word(src.code, body, body + 10) in CTRL_WORDS:
            raise Drift("if statement with an unbraced compound body")
        end = body
        while src.code[end] != ";":
            end = match_forward(src.code, end) + 1 \
                if src.code[end] in OPEN else end + 1
        end += 1
    if first_word(src.code, end, end + 10) == "else":
        raise Drift("if statement with an else branch")
    start = p
    prev = skip_ws(src.code, p - 1, -1)
    if re.search(r"(?<!\w)else$", src.code[max(0, prev - 4):prev + 1]):
        start = prev - 3
    return start, end


def case_arm(src, p):
    """(start, end) of the switch arm whose "case" keyword is at p."""
    colon = src.code.index(":", p)
    b = enclosing(src.code, p)
    hi = match_forward(src.code, b)
    prev = src.code[b + 1:p].rstrip()
    if prev.endswith(":"):
        raise Drift("case label shares its arm with the label before it")
    depth, i = 0, colon + 1
    while i < hi:
        c = src.code[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
        elif depth == 0 and re.match(r"\b(case\b|default\s*:)",
                                     src.code[i:i + 12]) and \
                not re.match(r"\w", src.code[i - 1]):
            break
        i += 1
    end = len(src.code[:i].rstrip())
    return p, end


def rule_block(src, func, name, count):
    """block FILE[:FUNC] IDENT: delete each if / else-if statement whose
    condition mentions IDENT and has no top-level || (so it only holds
    when the IDENT part does), with its body; and each "case IDENT:" arm.
    Conditions with a top-level || are left to the term kind."""
    lo, hi = src.scope(func)
    found = set()
    for m in re.finditer(r"\bif\s*\(", src.code[lo:hi]):
        p = lo + m.start()
        q = lo + m.end() - 1
        close = match_forward(src.code, q)
        if words(src.code, name, q, close) and "||" not in \
                [t for t, _, _ in _operators(src.code, q + 1, close)]:
            found.add(if_statement(src, p))
    pat = r"\bcase\s+" + re.escape(name) + r"\s*:"
    for m in re.finditer(pat, src.code[lo:hi]):
        found.add(case_arm(src, lo + m.start()))
    spans = [s for s in found
             if not any(o != s and o[0] <= s[0] and s[1] <= o[1]
                        for o in found)]
    expect(spans, count)
    src.delete(sorted(spans))


def rule_local(src, func, name, count):
    """local FILE:FUNC VAR: delete the declaration of local variable VAR,
    which must have no other use left in FUNC."""
    if not func:
        raise Drift("local needs FILE:FUNCTION")
    lo, hi = src.scope(func)
    found = []
    for p in words(src.code, name, lo, hi):
        a, e = statement_at(src.code, p)
        a = skip_ws(src.code, a)
        decl = re.fullmatch(r"(?:" + IDENT + r"\s+)+\**\s*" +
                            re.escape(name) + r"\s*(?:=.*)?;",
                            src.code[a:e].strip(), re.S)
        if decl and first_word(src.code, a, e) not in CTRL_WORDS + \
                ("return",):
            found.append((a, e))
    expect(found, count)
    src.delete(found)
    lo, hi = src.scope(func)
    if words(src.code, name, lo, hi):
        raise Drift(f"local variable {name} is still used")


def _operators(mask, a, b):
    """[(op, start, end)] of the top-level binary operators in mask[a:b]
    (bracketed groups are skipped)."""
    tok = re.compile(r"\|\||&&|<<=?|>>=?|->|[|&^=!<>+\-*/%]=?|[?:~!.,]|"
                     r"\w+|\S")
    ops, i, operand = [], a, False
    while True:
        i = skip_ws(mask, i)
        if i >= b:
            return ops
        if mask[i] in OPEN:
            i = match_forward(mask, i) + 1
            operand = True
            continue
        m = tok.match(mask, i)
        t = m.group()
        if re.match(r"\w", t):
            operand = True
        elif t in ("->", "."):
            operand = False
        elif t in ("~", "!") or (t in ("&", "*", "-", "+") and not operand):
            operand = False                 # unary operator
        else:
            ops.append((t, i, m.end()))
            operand = False
        i = m.end()


def _expr_bounds(mask, a):
    """(lo, hi, paren) of the innermost expression holding offset a: the
    inside of the enclosing parentheses, or else the right-hand side of
    the assignment or initializer up to its ';' or ','."""
    o = enclosing(mask, a, "([{")
    if o >= 0 and mask[o] == "(":
        return o + 1, match_forward(mask, o), True
    s, e = statement_at(mask, a)
    eq = [m.end() for m in re.finditer(r"(?<![=!<>|&^+\-*/%])=(?!=)",
                                       mask[s:a])]
    lo = s + eq[-1] if eq else s
    hi = e - 1 if mask[e - 1:e] in (";", ",") else e
    return lo, hi, False


def _plain_group(mask, lo, unary_ok=False):
    """True if the parenthesis before lo groups an operand: it does not
    follow a name (call, if, sizeof) or a cast, nor (unless unary_ok) a
    unary ~ or !."""
    before = mask[:lo - 1].rstrip()
    return not re.search(r"[\w)\]]$" if unary_ok else r"[\w)\]~!]$",
                         before)


def remove_term(src, a, b):
    """Remove the operand at src.cs[a:b] from the expression around it:
    from a | or || chain, or as the FLAG of "x & ~FLAG".  An operand
    inside a parenthesized group that is neither is widened to the group."""
    mask = src.cs
    lo, hi, paren = _expr_bounds(mask, a)
    ops = _operators(mask, lo, hi)
    seq = [t for t, _, _ in ops]
    operand = mask[a:b].strip()
    if seq and set(seq) in ({"|"}, {"||"}):
        cuts = [lo] + [x for _, s, e in ops for x in (s, e)] + [hi]
        elems = list(zip(cuts[0::2], cuts[1::2]))
        k = next(i for i, (s, e) in enumerate(elems) if s <= a < e)
        if mask[elems[k][0]:elems[k][1]].strip() != operand:
            raise Drift("operand is part of a larger term")
        if k > 0:
            cut = (len(mask[:elems[k - 1][1]].rstrip()),
                   len(mask[:elems[k][1]].rstrip()))
        else:
            cut = (skip_ws(mask, elems[0][0]), skip_ws(mask, elems[1][0]))
    elif seq == ["&"] and \
            re.sub(r"\s", "", mask[ops[0][2]:hi]) == "~" + operand:
        cut = (len(mask[:ops[0][1]].rstrip()), len(mask[:hi].rstrip()))
    elif paren and _plain_group(mask, lo):
        return remove_term(src, lo - 1, hi + 1)
    else:
        raise Drift("operand is not in a | or || chain nor a & ~ mask")
    src.replace(cut[0], cut[1], "")
    close = hi - (cut[1] - cut[0])
    inner = src.text[lo:close]
    in_define = src.cs[line_start(src.cs, lo):lo].lstrip().startswith("#")
    if paren and not in_define and _plain_group(src.cs, lo, True) and \
            re.fullmatch(r"\s*" + IDENT + r"\s*", inner):
        src.replace(lo - 1, close + 1, inner.strip())


def rule_term(src, func, name, count):
    """term FILE[:FUNC] IDENT: drop operand IDENT (or the parenthesized
    operand holding it) from a | or || chain, or drop "& ~IDENT".
    IDENT being assigned to or #defined is not an operand."""
    lo, hi = src.scope(func)
    found = [p for p in words(src.cs, name, lo, hi)
             if not re.match(r"\s*=(?!=)", src.cs[p + len(name):]) and
             not re.search(r"#\s*define\s+$", src.cs[line_start(src.cs, p):p])]
    expect(found, count)
    for p in reversed(found):
        remove_term(src, p, p + len(name))


def rule_comment(src, func, name, count):
    """comment FILE IDENT: delete the kernel-doc "@IDENT:" entry, or the
    paragraph of a block comment, that mentions IDENT (the whole comment
    if it has a single paragraph)."""
    lo, hi = src.scope(func)
    found = [(a, b) for a, b in src.comments
             if lo <= a < hi and words(src.text[a:b], name)]
    expect(found, count)
    for a, b in reversed(found):
        entry = src.doc_entry((a, b), name)
        if entry:
            src.set(src.text[:entry[0]] + src.text[entry[1]:])
            continue
        ls, le = src.check_whole_lines(a, b, "comment")
        body = src.text[ls:le].splitlines(keepends=True)
        blank = [i for i, ln in enumerate(body)
                 if re.fullmatch(r"\s*\*\s*", ln)]
        if not blank:
            src.delete([(a, b)], comment="never")
            continue
        hit = next(i for i, ln in enumerate(body) if words(ln, name))
        first = max([i for i in blank if i < hit], default=0) + 1
        last = min([i for i in blank if i > hit], default=len(body) - 1) - 1
        if first == 1 and body[0].strip() not in ("/*", "/**") or \
                last == len(body) - 2 and body[-1].strip() != "*/":
            raise Drift("its paragraph shares a line with the comment "
                        "delimiters")
        if first - 1 in blank:
            first -= 1
        elif last + 1 in blank:
            last += 1
        src.replace(ls, le, "".join(body[:first] + body[last + 1:]))


def rule_test(src, func, name, count):
    """test FILE FIXTURE: delete the kselftest harness FIXTURE*, TEST_F*
    blocks of FIXTURE."""
    pat = re.compile(r"(?m)^(FIXTURE\w*|TEST_F\w*)\(\s*" + re.escape(name) +
                     r"\s*[,)]")
    spans = []
    for m in pat.finditer(src.code):
        q = match_forward(src.code, src.code.index("(", m.start()))
        e = skip_ws(src.code, q + 1)
        if src.code[e] == "{":
            e = match_forward(src.code, e) + 1
            if src.code[skip_ws(src.code, e):][:1] == ";":
                e = skip_ws(src.code, e) + 1
        elif src.code[e] == ";":
            e += 1
        spans.append((m.start(), e))
    expect([s for s in spans if src.code.startswith("FIXTURE(", s[0])], 1)
    src.delete(spans, comment="always")


RULES = {
    "func": rule_func, "var": rule_var, "struct": rule_struct,
    "define": rule_define, "member": rule_member, "enumval": rule_enumval,
    "line": rule_line, "block": rule_block, "local": rule_local,
    "term": rule_term, "comment": rule_comment, "test": rule_test,
}
MULTI_ARG = {"member", "enumval"}


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def parse_rules(path):
    """[(label, kind, file, func, args, count)] from the rules file;
    label names the rule in messages, e.g. "block dirty_ops in foo()"."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            text = raw.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split()
            count = 1
            if re.fullmatch(r"x\d+", parts[-1]):
                count = int(parts.pop()[1:])
            if len(parts) < 3 or parts[0] not in RULES:
                sys.exit(f"prune: {path}:{n}: bad rule: {text}")
            kind, where, args = parts[0], parts[1], parts[2:]
            file, _, func = where.partition(":")
            if kind not in MULTI_ARG and len(args) != 1:
                sys.exit(f"prune: {path}:{n}: bad rule: {text}")
            label = " ".join([kind] + args) + (f" in {func}()" if func
                                               else "") + \
                (f" x{count}" if count != 1 else "")
            out.append((label, kind, file, func,
                        args if kind in MULTI_ARG else args[0], count))
    return out


def main():
    """Apply every rule, then write the files; report drift and exit 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", required=True, help="kernel tree to prune")
    ap.add_argument("--rules", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "prune", "rules"))
    ap.add_argument("--dry-run", action="store_true",
                    help="check the rules, write nothing")
    opt = ap.parse_args()
    if not os.path.isfile(os.path.join(opt.tree, "Makefile")):
        print(f"prune: {opt.tree} is not a kernel tree", file=sys.stderr)
        return 1

    files, report, total = {}, [], 0
    for label, kind, rel, func, args, count in parse_rules(opt.rules):
        try:
            src = files.get(rel)
            if src is None:
                path = os.path.join(opt.tree, rel)
                if not os.path.isfile(path):
                    raise Drift("not found (no such file)")
                src = files[rel] = Source(path, rel)
            before = src.text.count("\n")
            RULES[kind](src, func, args, count)
        except (Drift, ValueError, IndexError) as e:
            # ValueError/IndexError: text in a shape the parser did not
            # expect (e.g. a missing ';'); report it as drift too
            sep = " " if re.match(r"(not )?found", str(e)) else ": "
            print(f"prune: drift: {rel}: {label}{sep}{e} — the base tree "
                  "changed; update prune/rules", file=sys.stderr)
            return 1
        removed = before - src.text.count("\n")
        total += removed
        report.append(f"prune: {rel}: {label} (-{removed} lines)")
    if not opt.dry_run:
        for src in files.values():
            src.write()
    print("\n".join(report))
    changed = sum(src.text != src.orig for src in files.values())
    print(f"prune: {len(report)} rules applied, {total} lines removed "
          f"from {changed} files" + (" (dry run)" if opt.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
