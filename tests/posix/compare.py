#!/usr/bin/env python3
"""Compares posix-suite outputs for tests/integration/test_posix.sh.

  compare.py diff NATIVE BUBBLE ALLOWLIST LABEL USED
      Prints every case whose result differs between NATIVE and BUBBLE,
      with the parts that changed. Differences in cases the ALLOWLIST
      matches are reported as allowed and their patterns appended to the
      file USED. Exit status 1 if any other case differs, 0 if not.

  compare.py notes NATIVE ALLOWLIST USED
      Notes allowlist patterns that matched no difference in any run (their
      names are in USED) and patterns that match no case at all (a typo, or
      a check that was renamed). Exit status 0, or 1 for a broken allowlist.
"""
import difflib
import fnmatch
import sys


def read_results(path):
    """"area/case: RESULT" lines as {name: result}, and the names in order."""
    results, order = {}, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            name, sep, value = line.partition(": ")
            if not sep:
                name, value = line, "(not a result line)"
            if name in results:
                results[name] += " || " + value  # printed twice: shows as a difference
            else:
                order.append(name)
                results[name] = value
    return results, order


def read_allowlist(path):
    """[(pattern, reason)]; exits 2 on a malformed line."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 1)
            if len(parts) < 2:
                print(f"{path}:{number}: '{text}' has no reason", file=sys.stderr)
                sys.exit(2)
            entries.append((parts[0], parts[1]))
    return entries


def tokens(value):
    """Splits a result at spaces outside double quotes."""
    out, current, quoted, escaped = [], "", False, False
    for c in value:
        if escaped:
            current += c
            escaped = False
        elif c == "\\" and quoted:
            current += c
            escaped = True
        elif c == '"':
            current += c
            quoted = not quoted
        elif c == " " and not quoted:
            if current:
                out.append(current)
            current = ""
        else:
            current += c
    if current:
        out.append(current)
    return out


def changed_parts(a, b):
    """'native-part -> bubble-part' for each stretch of tokens that differs."""
    ta, tb = tokens(a), tokens(b)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ta, b=tb, autojunk=False).get_opcodes():
        if op != "equal":
            parts.append(f"{' '.join(ta[i1:i2]) or '(nothing)'} -> {' '.join(tb[j1:j2]) or '(nothing)'}")
    return parts


def allowed_by(name, allowlist):
    for pattern, reason in allowlist:
        if fnmatch.fnmatchcase(name, pattern):
            return pattern, reason
    return None, None


def diff(native_path, bubble_path, allowlist_path, label, used_path):
    native, native_order = read_results(native_path)
    bubble, bubble_order = read_results(bubble_path)
    allowlist = read_allowlist(allowlist_path)
    names = native_order + [n for n in bubble_order if n not in native]
    unexplained, allowed, used = 0, 0, []
    for name in names:
        a, b = native.get(name, "(missing)"), bubble.get(name, "(missing)")
        if a == b:
            continue
        pattern, reason = allowed_by(name, allowlist)
        if pattern:
            allowed += 1
            used.append(pattern)
            print(f"  allowed {name}  ({reason})")
            for part in changed_parts(a, b):
                print(f"      {part}")
            continue
        unexplained += 1
        print(f"  DIFFERS {name}")
        print(f"      native: {a}")
        print(f"      bubble: {b}")
        parts = changed_parts(a, b)
        if len(parts) > 1 or (parts and len(parts[0]) < len(a) + len(b) + 4):
            for part in parts:
                print(f"      changed: {part}")
    with open(used_path, "a", encoding="utf-8") as f:
        for pattern in used:
            f.write(pattern + "\n")
    print(f"{label}: {len(native)} cases, {unexplained} unexplained differences, {allowed} allowlisted")
    return 1 if unexplained else 0


def notes(native_path, allowlist_path, used_path):
    native, _ = read_results(native_path)
    allowlist = read_allowlist(allowlist_path)
    try:
        with open(used_path, encoding="utf-8") as f:
            used = {line.strip() for line in f}
    except FileNotFoundError:
        used = set()
    for pattern, reason in allowlist:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in native):
            print(f"note: allowlist entry '{pattern}' matches no case of posix-suite ({reason})")
        elif pattern not in used:
            print(f"note: allowlisted '{pattern}' did not differ in any bubble run ({reason})")
    return 0


def main(argv):
    if len(argv) == 7 and argv[1] == "diff":
        return diff(*argv[2:7])
    if len(argv) == 5 and argv[1] == "notes":
        return notes(*argv[2:5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
