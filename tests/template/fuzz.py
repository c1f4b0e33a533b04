#!/usr/bin/env python3
"""tests/template/fuzz.py: writes random templates for differential testing against Go.

    fuzz.py SEED COUNT OUTDIR

Builds COUNT templates from the language subset (text with spaces/newlines/tabs, trim markers,
comments, range/if/with/else, variables, pipelines, data and string functions, printf verbs)
into OUTDIR/fNNNN.ctmpl, with OUTDIR/snapshot.json copied from the corpus. The suite renders
them with Go (tests/template/gen) and with our engine and compares the results."""
import os
import random
import shutil
import sys

seed, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "grammar"  # "lex": token soup for lexer/parser parity
rnd = random.Random(seed)
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(out, exist_ok=True)
shutil.copy(os.path.join(here, "cases", "snapshot.json"), os.path.join(out, "snapshot.json"))

TEXTS = ["", " ", "  ", "\n", "\n\n", "\t", " \n \t", "x", "a b", "line\n", "\n  indented", "-", "}", "{", "é"]
SCALARS = ['"str"', '"a b"', '""', '`raw`', '`r\\n`', "1", "0", "-2", "3.5", "0.0", "1e3", "true", "false",
           '"\\t\\x41\\u00e9"', "'a'", "0x10", '"%"', "nil", ".Missing", "$.Nope.Deeper"]
LISTS = ["services", '(service "hello/v1")', '(service "hello/v1|any")', '(service "rest.web")',
         '(ls "service/haproxy/timeouts")', '(tree "config")', '(split "," "a,b,c")', '(split "," "")',
         '(service "nosuch")']  # byTag maps hold pointers: printing them is address-dependent
STRS = ['(key "config/app/name")', '(keyOrDefault "nope" "dflt")', '(keyOrDefault "service/haproxy/maxconn" "1")',
        '(env "HOME")', '(timestamp)', '(toUpper "abc")', '(join "-" (split "," "x,y"))',
        '(replaceAll "a" "b" "banana")', '(regexReplaceAll "[aeiou]" "_" "template")', '(printf "%05d" 42)']
FIELDS = [".Name", ".Tags", ".Key", ".Value", ".Address", ".Port", ".ID", ".Node", ".Status", ".ServiceMeta", ".Path", "."]
VERBS = ["%v", "%s", "%d", "%q", "%x", "%5s", "%-4v|", "%03d", "%t", "%.1f", "%T", "%%", "%v %v"]

def scalar():
    return rnd.choice(SCALARS + STRS)

PLAIN_LISTS = ['(split "," "a,b,c")', '(split "," "")']

def expr(depth, inrange, safe=False):
    """safe: the value may get formatted (print/printf/...): no lists of services or key
    pairs, whose elements Go prints as pointer addresses (not reproducible)."""
    r = rnd.random()
    if inrange and r < 0.3:
        return rnd.choice(FIELDS)
    if r < 0.45:
        return scalar()
    if r < 0.6:
        return rnd.choice(PLAIN_LISTS if safe else LISTS)
    if depth > 2:
        return scalar()
    a, b = expr(depth + 1, inrange, safe), expr(depth + 1, inrange, safe)
    sa, sb = expr(depth + 1, inrange, True), expr(depth + 1, inrange, True)
    choices = [
        f"(len {a})", f"(eq {a} {b})", f"(ne {a} {b})", f"(lt {a} {b})", f"(and {a} {b})", f"(or {a} {b})",
        f"(not {a})", f'(printf "{rnd.choice(VERBS)}" {sa})', f'(printf "{rnd.choice(VERBS)}|{rnd.choice(VERBS)}" {sa} {sb})',
        f"(print {sa} {sb})", f"(index {a} 0)", f'(contains "a" {sa})', f"(in {sa} {sb})", f"({a} | len)",
        f'({sa} | printf "%v-%v" 1)', f"(println {sa})",
    ]
    return rnd.choice(choices)

def act(body):
    l = rnd.choice(["{{", "{{- ", "{{-\n", "{{ "])
    r = rnd.choice(["}}", " -}}", "\n-}}", " }}"])
    return l + body + r

def block(depth, inrange, nvars):
    parts = [act('$outer := ""')] if depth == 0 else []
    for _ in range(rnd.randint(1, 4)):
        parts.append(rnd.choice(TEXTS))
        k = rnd.random()
        if depth < 3 and k < 0.15:
            v = f"$v{depth}"
            parts.append(act(f"range {rnd.choice(['', f'$i{depth}, {v} := ', f'{v} := '])}{rnd.choice(LISTS)}"))
            parts.append(block(depth + 1, True, nvars))
            if rnd.random() < 0.3:
                parts.append(act("else"))
                parts.append(block(depth + 1, inrange, nvars))
            parts.append(act("end"))
        elif depth < 3 and k < 0.3:
            parts.append(act(f"if {expr(1, inrange)}"))
            parts.append(block(depth + 1, inrange, nvars))
            if rnd.random() < 0.3:
                parts.append(act(f"else if {expr(1, inrange)}"))
                parts.append(block(depth + 1, inrange, nvars))
            if rnd.random() < 0.4:
                parts.append(act("else"))
                parts.append(block(depth + 1, inrange, nvars))
            parts.append(act("end"))
        elif depth < 3 and k < 0.38:
            parts.append(act(f"with {expr(1, inrange)}"))
            parts.append(block(depth + 1, True, nvars))
            parts.append(act("end"))
        elif inrange and k < 0.4:
            parts.append(rnd.choice([act("if eq (len (print .)) 3") + act("break") + act("end"),
                                     act("if (print .) | len | lt 20") + act("continue") + act("end"),
                                     act("$.Foo"), act("$x.Name") if False else act("."),
                                     act('index . 0') , act('.ServiceMeta.weight'), act('index .ServiceMeta "check_path"'),
                                     act('$outer = (print .)')]))
        elif k < 0.45:
            parts.append(act("/* c */") if rnd.random() < 0.5 else rnd.choice(["{{/* c */}}", "{{- /* c */ -}}"]))
        elif k < 0.55:
            parts.append(act(f"$x := {expr(1, inrange)}") + act("$x"))
        else:
            parts.append(act(expr(0, inrange)))
    return "".join(parts)

SOUP = ["{{", "}}", "{{- ", " -}}", "{{-", "-}}", "-", " ", "  ", "\n", "\t", "\r\n", "/*", "*/", "x", "1", "-1",
        "2.5", "\"s\"", "\"", "`r`", "`", "(", ")", "|", "$", "$x", ".", ".A", "a", ":=", "=", ",", "'c'", "if",
        "else", "end", "range", "with", "true", "nil", "break", "len", "print", "printf", "{", "}", "#", "0x", "é",
        "\\", "\"\\n\"", "'", "$x :=", "{{/*", "*/}}", "{{ end }}", "{{ if 1 }}", "{{ range split \",\" \"a,b\" }}"]

if mode == "lex":
    for n in range(count):
        with open(os.path.join(out, f"f{n:04d}.ctmpl"), "w") as f:
            f.write("".join(rnd.choice(SOUP) for _ in range(rnd.randint(1, 30))))
    sys.exit(0)

for n in range(count):
    with open(os.path.join(out, f"f{n:04d}.ctmpl"), "w") as f:
        f.write(block(0, False, 0) + act("$outer") + rnd.choice(["", "\n"]))
