#!/usr/bin/env bash
# Quick start on a fresh Debian machine with Swift: installs what is missing, builds, starts
# the gateway with the local runtime and the embedded defaults, registers both versions of
# the iris example, and prints byocctl lines to try. The gateway stays in the foreground;
# Ctrl-C stops it (and its model processes).
#
# Environment: BYOC_LISTEN (default 127.0.0.1:8080), BYOC_STATE_DIR (default ./byoc-state).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
listen=${BYOC_LISTEN:-127.0.0.1:8080}
state=${BYOC_STATE_DIR:-$root/byoc-state}
step() { printf '\n==> %s\n' "$*"; }

step "system packages"
sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
wanted=(libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libsqlite3-dev libhttp-parser-dev pkg-config python3-venv)
missing=()
for p in "${wanted[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
else
  echo "all present"
fi

step "Python environment for the iris example (deploy/examples/iris/requirements.txt)"
venv="$state/venv"
if [ ! -x "$venv/bin/python" ] || ! cmp -s deploy/examples/iris/requirements.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r deploy/examples/iris/requirements.txt
  cp deploy/examples/iris/requirements.txt "$venv/requirements.txt"
fi
echo "$venv"

step "build (release)"
swift build -c release --product byoc-gateway
swift build -c release --product byocctl
swift build -c release --product byoc-echo-model
bin=$(swift build -c release --show-bin-path)

step "start the gateway on $listen (state in $state)"
mkdir -p "$state"
"$bin/byoc-gateway" --listen "$listen" --state-dir "$state" &
gateway=$!
trap 'kill -TERM $gateway 2>/dev/null; wait $gateway 2>/dev/null' INT TERM EXIT
export BYOC_SERVER="http://$listen"
for _ in $(seq 1 100); do "$bin/byocctl" status >/dev/null 2>&1 && break; sleep 0.1; done

step "register the iris example, versions 1 (logistic regression) and 2 (random forest)"
for version in 1 2; do
  if "$bin/byocctl" get iris -o json 2>/dev/null | grep -q "\"version\" : \"$version\""; then
    echo "iris/$version is already registered"
    continue
  fi
  "$bin/byocctl" register iris "$version" --wait --command "$venv/bin/python $root/deploy/examples/iris/serve.py"
done
"$bin/byocctl" list

cat <<TRY

The gateway runs on http://$listen (Ctrl-C stops it). Try, in another terminal:

  export PATH="$bin:\$PATH" BYOC_SERVER=http://$listen
  byocctl list
  byocctl predict iris --input '{"x": [[5.1, 3.5, 1.4, 0.2]]}'
  byocctl predict iris --version 2 --input '{"x": [[6.7, 3.0, 5.2, 2.3]]}'
  byocctl set-default iris 2
  byocctl scale iris 1 --min 3 --wait
  byocctl register echo 1 --command $bin/byoc-echo-model --wait
  byocctl delete iris 2
  byocctl status
TRY
wait $gateway
