#!/usr/bin/env python3
"""Picks pictures of the emoji manifest for the evaluations of tools/emoji_text_to_image.sh.

  emoji_prompts.py MANIFEST SPLIT N [--style S] [--strip_style] [--restyle T] [--subset OUT.jsonl]

SPLIT is test or train (the image_folder rule: CRC-32 of the group column, % 1000 < 100 is
test); N pictures are taken evenly spaced in manifest order (all when N exceeds them).
Prints their captions ';'-joined (a --prompt list). --style keeps pictures of one style;
--strip_style drops the ", <style> style" ending (a prompt that does not ask for a style);
--restyle T asks for style T instead (the paired target of an img2img style change).
--subset writes those pictures' rows as a manifest beside MANIFEST (for --images).
Standard library only.
"""
import argparse
import json
import os
import zlib


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("split", choices=["test", "train"])
    parser.add_argument("n", type=int)
    parser.add_argument("--style")
    parser.add_argument("--strip_style", action="store_true")
    parser.add_argument("--restyle")
    parser.add_argument("--subset")
    a = parser.parse_args()
    rows = [json.loads(line) for line in open(a.manifest, encoding="utf-8") if line.strip()]
    rows = [r for r in rows
            if (zlib.crc32(r["group"].encode()) % 1000 < 100) == (a.split == "test")
            and (a.style is None or r["style"] == a.style)]
    if a.n < len(rows):
        rows = [rows[i * len(rows) // a.n] for i in range(a.n)]
    prompts = []
    for r in rows:
        caption = r["caption"]
        suffix = f", {r['style']} style"
        assert caption.endswith(suffix), caption
        if a.strip_style:
            caption = caption[:-len(suffix)]
        elif a.restyle:
            caption = caption[:-len(suffix)] + f", {a.restyle} style"
        prompts.append(caption.replace(";", ","))
    if a.subset:
        path = os.path.join(os.path.dirname(os.path.abspath(a.manifest)), a.subset)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
    print(";".join(prompts))


if __name__ == "__main__":
    main()
