#!/usr/bin/env python3
"""Writes OUT/manifest.jsonl for the emoji images tools/fetch_emoji.sh unpacked.

One row per image and style: file (google/<code>.png), caption (the emoji's name in plain
lower-case words with its skin tone and style, "woman surfing, medium skin tone, twitter
style": the style is part of what a prompt asks for), category (the label:
emoji.json's category), subcategory, style, skin_tone (none, 1-5, or "a-b" for two people),
gender (man, woman, mixed, none: from the name's words), base (the emoji without skin tone),
group (the split key: emoji whose pictures are byte-identical in a style share one group,
so a duplicate never sits on both sides of a split), and ambiguous (the attributes that
differ inside such a group of identical pictures, which an attribute head must not learn).
Standard library only. Prints the counts it wrote.
"""
import collections
import hashlib
import json
import os
import re
import sys
import zlib

TONES = {"1F3FB": ("1", "light"), "1F3FC": ("2", "medium-light"), "1F3FD": ("3", "medium"),
         "1F3FE": ("4", "medium-dark"), "1F3FF": ("5", "dark")}
STYLES = ("google", "twitter")
WOMAN = {"woman", "women", "girl", "female", "lady", "princess", "mother", "grandma",
         "queen", "bride", "mrs", "widow"}
MAN = {"man", "men", "boy", "male", "prince", "father", "grandpa", "king", "groom",
       "santa"}


def plain_name(name):
    """'MAN RUNNING FACING RIGHT' -> 'man running facing right'; flags keep their case-folded
    words ('Aruba Flag' -> 'aruba flag')."""
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip().lower()


def gender(caption):
    words = set(re.findall(r"[a-z]+", caption))
    w, m = bool(words & WOMAN), bool(words & MAN)
    return "mixed" if w and m else "woman" if w else "man" if m else "none"


def main(out):
    emoji = json.load(open(os.path.join(out, "emoji-google.json")))
    rows = []
    for e in emoji:
        name = plain_name(e["name"])
        variants = [(e["image"], "none", name, e)]
        for key, v in sorted(e.get("skin_variations", {}).items()):
            tones = [TONES[t] for t in key.split("-")]
            caption = name + "".join(f", {t[1]} skin tone" for t in tones)
            variants.append((v["image"], "-".join(t[0] for t in tones), caption, v))
        for image, tone, caption, entry in variants:
            for style in STYLES:
                if not entry.get(f"has_img_{style}") or not os.path.exists(
                        os.path.join(out, style, image)):
                    continue
                rows.append({"file": f"{style}/{image}", "caption": f"{caption}, {style} style",
                             "category": e["category"], "subcategory": e["subcategory"],
                             "style": style, "skin_tone": tone, "gender": gender(caption),
                             "base": e["unified"]})
    # Byte-identical pictures within a style: one split group (union-find over bases), and
    # the attributes that differ among them marked ambiguous.
    parent = {r["base"]: r["base"] for r in rows}

    def find(b):
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    same = collections.defaultdict(list)
    for r in rows:
        digest = hashlib.sha256(open(os.path.join(out, r["file"]), "rb").read()).hexdigest()
        same[(r["style"], digest)].append(r)
    duplicates = [g for g in same.values() if len(g) > 1]
    for g in duplicates:
        for r in g[1:]:
            parent[find(r["base"])] = find(g[0]["base"])
        for attribute in ("skin_tone", "gender", "category", "caption"):
            if len({r[attribute] for r in g}) > 1:
                for r in g:
                    r.setdefault("ambiguous", set()).add(attribute)
    for r in rows:
        r["group"] = find(r["base"])
        r["ambiguous"] = ",".join(sorted(r.get("ambiguous", ())))
    with open(os.path.join(out, "manifest.jsonl.tmp"), "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(os.path.join(out, "manifest.jsonl.tmp"), os.path.join(out, "manifest.jsonl"))
    # The image_folder split with group_column "group" and the default test_permille 100.
    test = sum(1 for r in rows if zlib.crc32(r["group"].encode()) % 1000 < 100)
    per_style = collections.Counter(r["style"] for r in rows)
    print(f"wrote {len(rows)} images ({', '.join(f'{s} {n}' for s, n in sorted(per_style.items()))}) "
          f"to {out}/manifest.jsonl; {len(duplicates)} groups of byte-identical pictures "
          f"({sum(len(g) for g in duplicates)} images); test split (group hash) {test} images "
          f"({100.0 * test / len(rows):.1f}%)")
    print("categories: " + ", ".join(f"{c} {n}" for c, n in
                                     sorted(collections.Counter(r["category"] for r in rows).items())))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/diffuse/emoji"))
