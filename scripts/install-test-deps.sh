#!/bin/sh
# System packages the tests need. The browser tests: Debian's Chromium (Playwright drives it through
# executable_path; its own browser download is not possible here) and CJK fonts, so that the
# Chinese in screenshots renders. Installs only what is missing.
set -eu
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium chromium-driver"
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$missing fonts-noto-cjk"
fc-list 2>/dev/null | grep -qi "Noto Color Emoji" || missing="$missing fonts-noto-color-emoji"
# Go's own text/template (what Ollama runs) renders the Modelfile templates in a parity test.
command -v go >/dev/null 2>&1 || missing="$missing golang-go"
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
