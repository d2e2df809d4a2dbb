#!/usr/bin/env python3
"""Checks every relative Markdown link (file and #anchor) in the .md files of the repository: .ci/check-links.py [root]."""
import os, re, subprocess, sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
files = [f for f in subprocess.run(["git", "-C", root, "ls-files", "*.md"], capture_output=True, text=True).stdout.split()]
files += [f for f in subprocess.run(["git", "-C", root, "ls-files", "--others", "--exclude-standard", "*.md"], capture_output=True, text=True).stdout.split()]

def strip_code(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return text

def anchors(path):
    out, seen = set(), {}
    text = re.sub(r"```.*?```", "", open(path, encoding="utf-8").read(), flags=re.S)
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        h = m.group(1).strip().lower()
        h = re.sub(r"[^\w\- ]", "", h)   # GitHub: drop punctuation, keep letters, digits, _, -, space
        h = h.replace(" ", "-")
        n = seen.get(h, 0); seen[h] = n + 1
        out.add(h if n == 0 else f"{h}-{n}")
    return out

bad = 0; count = 0
for f in files:
    if os.path.basename(f).startswith("_"):
        continue
    path = os.path.join(root, f)
    text = strip_code(open(path, encoding="utf-8").read())
    text = re.sub(r"`[^`\n]*`", lambda m: "" if "](" not in m.group(0) else m.group(0), text)
    for m in re.finditer(r"(?<!!)\[(?:[^\]]|`[^`]*`)*\]\(([^)\s]+)\)", text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        count += 1
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            print(f"{f}: missing file {target}"); bad += 1; continue
        if anchor:
            if os.path.isdir(dest) or not dest.endswith(".md"):
                print(f"{f}: anchor on a non-Markdown target {target}"); bad += 1; continue
            if anchor not in anchors(dest):
                print(f"{f}: missing anchor {target}"); bad += 1
print(f"{count} relative links checked, {bad} broken")
sys.exit(1 if bad else 0)
