#!/usr/bin/env bash
# The seed scenario, step by step: for each step, the ClusterImagePolicies in the settings,
# the admission request (a Pod as `kubectl run --image IMAGE demo` creates it), and the
# verdict with its message. Run through `make demo`, which builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
KWCTL="${KWCTL:?set KWCTL (make demo does)}"
POLICY="${POLICY:?set POLICY (make demo does)}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cips() {
  local names
  names=$(grep -A1 '^    metadata:' "$1" | sed -n 's/^ *name: //p' | paste -sd, - | sed 's/,/, /g')
  echo "${names:-none}"
}

step() {
  local title="$1" settings="$2" image="$3" session="${4:-}"
  local replay=()
  [ -n "$session" ] && replay=(--replay-host-capabilities-interactions "$session")
  jq --arg img "$image" '.object.spec.containers[0].image = $img' test_data/requests/pod.json >"$tmp/request.json"
  echo "== $title"
  echo "   ClusterImagePolicies: $(cips "$settings")   ($settings)"
  echo "   request: CREATE Pod default/demo, spec.containers[0].image = $image"
  local out
  [ -n "$session" ] && echo "   host capabilities: replayed from $session (recorded against a real registry)"
  out=$("$KWCTL" run --request-path "$tmp/request.json" --settings-path "$settings" "${replay[@]}" "$POLICY" 2>/dev/null)
  if [ "$(jq -r .allowed <<<"$out")" = true ]; then
    echo "   verdict: ADMITTED"
    if [ "$(jq -r '.patch // empty' <<<"$out")" != "" ]; then
      jq -r '.patch | @base64d | fromjson | .[] | "      mutation: \(.path) = \(.value)"' <<<"$out"
    fi
  else
    echo "   verdict: DENIED"
    jq -r '.status.message' <<<"$out" | sed 's/^/      /'
  fi
  jq -r '(.warnings // [])[]' <<<"$out" | sed 's/^/      warning: /'
  echo
}

echo "Namespace 'default' carries policy.sigstore.dev/include=true; runner: $KWCTL"
echo
step "Step 1: no ClusterImagePolicy at all" test_data/settings/seed-step1.yaml nginx
step "Step 2: chainguard-image-policy (glob cgr.dev/chainguard/**, static pass)" test_data/settings/seed-step2.yaml cgr.dev/chainguard/nginx:latest
step "Step 2: nginx is still not covered" test_data/settings/seed-step2.yaml nginx
step "Step 3: + disallow-latest-tag (glob **, Rego over input.image)" test_data/settings/seed-step3.yaml cgr.dev/chainguard/nginx:latest
step "Step 3: the :latest-dev tag passes" test_data/settings/seed-step3.yaml cgr.dev/chainguard/nginx:latest-dev
step "Signed image: signed-by-k1 (key authority), image signed with k1" test_data/settings/key-k1.yaml 127.0.0.1:5000/demo/app:signed test_data/sessions/signed.yml
step "Signed image: the same CIP, an unsigned image" test_data/settings/key-k1.yaml 127.0.0.1:5000/demo/app:unsigned test_data/sessions/unsigned.yml
