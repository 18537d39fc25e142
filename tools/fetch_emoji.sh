#!/usr/bin/env bash
# Fetches the open emoji sets as a captioned image folder (data "image_folder"):
#   bash tools/fetch_emoji.sh [OUT]      (default: $HOME/.cache/diffuse/emoji)
# Downloads the pinned npm packages emoji-datasource-google@16.0.0 (Noto Emoji, Apache 2.0)
# and emoji-datasource-twitter@16.0.0 (Twemoji graphics, CC-BY 4.0; the packages: MIT) with
# Debian's npm, checks each tarball against its published sha512 integrity, and writes
# OUT/google/*.png, OUT/twitter/*.png (64 x 64 RGBA) and OUT/manifest.jsonl (tools/
# emoji_manifest.py: caption, category label, style, skin tone, gender, base emoji, split
# group). Nothing of it is committed. Idempotent: a verified tarball is not fetched again.
set -euo pipefail
out=${1:-$HOME/.cache/diffuse/emoji}
here=$(cd "$(dirname "$0")" && pwd)
command -v npm > /dev/null || { echo "fetch_emoji: npm is missing (apt-get install npm)" >&2; exit 1; }
mkdir -p "$out/tarballs"
declare -A integrity=(
  [google]='sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=='
  [twitter]='sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ=='
)
sri() { python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"; }
for style in google twitter; do
  tgz="$out/tarballs/emoji-datasource-$style-16.0.0.tgz"
  if [[ ! -f "$tgz" || "$(sri "$tgz")" != "${integrity[$style]}" ]]; then
    rm -f "$tgz"
    (cd "$out/tarballs" && npm pack --silent "emoji-datasource-$style@16.0.0" > /dev/null)
  fi
  got=$(sri "$tgz")
  if [[ "$got" != "${integrity[$style]}" ]]; then
    echo "fetch_emoji: $tgz: integrity $got, want ${integrity[$style]}; removed" >&2
    rm -f "$tgz"
    exit 1
  fi
  rm -rf "$out/$style" "$out/tmp_$style"
  mkdir -p "$out/tmp_$style"
  tar -xzf "$tgz" -C "$out/tmp_$style" package/emoji.json "package/img/$style/64"
  mv "$out/tmp_$style/package/img/$style/64" "$out/$style"
  mv "$out/tmp_$style/package/emoji.json" "$out/emoji-$style.json"
  rm -rf "$out/tmp_$style"
done
python3 "$here/emoji_manifest.py" "$out"
