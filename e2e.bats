#!/usr/bin/env bats
# End-to-end tests: the built module run on real admission requests.
#
# KWCTL is the binary that runs the policy: the real `kwctl` when it is on the PATH, the
# project's kwctl-compatible runner otherwise. POLICY is the annotated module (its metadata
# lists the context-aware resources that `--allow-context-aware` grants); `make e2e-tests`
# builds it with `kwctl annotate`, or `cip-runner annotate` when kwctl is absent.

bats_require_minimum_version 1.5.0

setup() {
  cd "$BATS_TEST_DIRNAME"
  KWCTL="${KWCTL:-$(command -v kwctl || echo "$BATS_TEST_DIRNAME/target/runner/cip-runner")}"
  POLICY="${POLICY:-$BATS_TEST_DIRNAME/annotated-policy.wasm}"
}

# policy SETTINGS REQUEST [EXTRA ARGS...]: runs the policy; $output is the response line,
# $stderr what the runner printed on stderr.
policy() {
  local settings="$1" request="$2"
  shift 2
  run --separate-stderr "$KWCTL" run --request-path "$request" --settings-path "$settings" "$@" "$POLICY"
  echo "status = ${status}"
  echo "output = ${output}"
  echo "stderr = ${stderr}"
}

# with_image REQUEST IMAGE: a copy of REQUEST whose first container runs IMAGE.
with_image() {
  jq --arg img "$2" '.object.spec.containers[0].image = $img' "$1" >"$BATS_TEST_TMPDIR/request.json"
  echo "$BATS_TEST_TMPDIR/request.json"
}

allowed() { [ "$(jq -r '.allowed' <<<"$output")" = "$1" ]; }
message() { jq -r '.status.message // ""' <<<"$output"; }
warnings() { jq -r '(.warnings // []) | join("\n---\n")' <<<"$output"; }

REGO_NOT_COMPLIANT="failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant'"

# --- The seed scenario -------------------------------------------------------------------

@test "seed 1: no ClusterImagePolicy, nginx is denied with no matching policies" {
  policy test_data/settings/seed-step1.yaml "$(with_image test_data/requests/pod.json nginx)"
  [ "$status" -eq 0 ]
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

@test "seed 2: chainguard-image-policy admits cgr.dev/chainguard/nginx:latest" {
  policy test_data/settings/seed-step2.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest)"
  [ "$status" -eq 0 ]
  allowed true
  [ "$(jq -r '.uid' <<<"$output")" = "pod-create" ]
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "seed 2: chainguard-image-policy does not cover nginx" {
  policy test_data/settings/seed-step2.yaml "$(with_image test_data/requests/pod.json nginx)"
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

@test "seed 3: disallow-latest-tag denies cgr.dev/chainguard/nginx:latest" {
  policy test_data/settings/seed-step3.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest)"
  allowed false
  [ "$(message)" = "validation failed: failed policy: disallow-latest-tag: spec.containers[0].image"$'\n'"cgr.dev/chainguard/nginx:latest $REGO_NOT_COMPLIANT" ]
}

@test "seed 3: disallow-latest-tag admits cgr.dev/chainguard/nginx:latest-dev" {
  policy test_data/settings/seed-step3.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest-dev)"
  allowed true
}

@test "seed 3: an image without a tag is not compliant either (split gives one part)" {
  policy test_data/settings/seed-step3.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx)"
  allowed false
  [ "$(message)" = "validation failed: failed policy: disallow-latest-tag: spec.containers[0].image"$'\n'"cgr.dev/chainguard/nginx $REGO_NOT_COMPLIANT" ]
}

# --- Workload kinds ----------------------------------------------------------------------

@test "Deployment: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/deployment.json
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "ReplicaSet: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/replicaset.json
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "StatefulSet: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/statefulset.json
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "DaemonSet: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/daemonset.json
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "ReplicationController: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/replicationcontroller.json
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "Job: images of the pod template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/job.json
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "CronJob: images of the job template are checked" {
  policy test_data/settings/seed-step1.yaml test_data/requests/cronjob.json
  [ "$(message)" = $'validation failed: no matching policies: spec.jobTemplate.spec.template.spec.containers[0].image\nnginx' ]
}

@test "a Deployment admitted by the seed CIPs" {
  jq '.object.spec.template.spec.containers[0].image = "cgr.dev/chainguard/nginx:1.27"' test_data/requests/deployment.json >"$BATS_TEST_TMPDIR/d.json"
  policy test_data/settings/seed-step3.yaml "$BATS_TEST_TMPDIR/d.json"
  allowed true
}

@test "init, ephemeral containers and image volumes are checked, paths merged like upstream" {
  policy test_data/settings/seed-step1.yaml test_data/requests/pod-all-images.json
  allowed false
  # knative order: by message, then by details (the image); equal entries merge their paths.
  expected="validation failed: no matching policies: spec.initContainers[0].image
busybox
no matching policies: spec.ephemeralContainers[0].image
busybox:1.36
no matching policies: spec.containers[0].image, spec.containers[1].image
nginx
no matching policies: spec.volumes[0].image
quay.io/demo/data:v1"
  [ "$(message)" = "$expected" ]
}

@test "kubectl debug (pods/ephemeralcontainers) cannot bypass the policy" {
  policy test_data/settings/seed-step2.yaml test_data/requests/pod-ephemeral-debug.json
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.ephemeralContainers[0].image\nbusybox\nno matching policies: spec.containers[0].image\nnginx' ]
}

@test "an UPDATE that only scales a Deployment down is accepted without checks" {
  policy test_data/settings/seed-step1.yaml test_data/requests/deployment-scale-down.json
  allowed true
}

@test "scaling a Deployment up re-checks its images" {
  policy test_data/settings/seed-step1.yaml test_data/requests/deployment-scale-up.json
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

# deleting_pod FILTER: pod.json running nginx with a deletionTimestamp, then the jq FILTER.
deleting_pod() {
  jq ".object.metadata.deletionTimestamp = \"2020-01-01T00:00:00Z\" | .object.spec.containers[0].image = \"nginx\" | $1" \
    test_data/requests/pod.json >"$BATS_TEST_TMPDIR/deleting.json"
  echo "$BATS_TEST_TMPDIR/deleting.json"
}

@test "a Pod CREATE carrying a deletionTimestamp is still checked (the API server clears it after mutation)" {
  policy test_data/settings/seed-step1.yaml "$(deleting_pod .)"
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

@test "an UPDATE of a Pod already being deleted is accepted without checks" {
  policy test_data/settings/seed-step1.yaml "$(deleting_pod '.operation = "UPDATE" | .oldObject = .object')"
  allowed true
}

@test "Rego print output does not reach the runner's answer line" {
  cat >"$BATS_TEST_TMPDIR/print.yaml" <<'YAML'
modifyImagesWithDigest: false
policies:
  - apiVersion: policy.sigstore.dev/v1beta1
    kind: ClusterImagePolicy
    metadata:
      name: printing
    spec:
      images:
        - glob: "**"
      authorities:
        - static:
            action: pass
      policy:
        type: rego
        data: |
          package sigstore
          isCompliant {
            print("HELLO-FROM-REGO")
            true
          }
YAML
  policy "$BATS_TEST_TMPDIR/print.yaml" "$(with_image test_data/requests/pod.json nginx)"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 1 ]
  allowed true
  [[ "$output" != *HELLO-FROM-REGO* ]]
}

@test "DELETE is accepted" {
  policy test_data/settings/seed-step1.yaml test_data/requests/pod-delete.json
  allowed true
  [ "$(jq -r '.uid' <<<"$output")" = "pod-delete" ]
}

@test "kinds without images are accepted" {
  policy test_data/settings/seed-step1.yaml test_data/requests/service.json
  allowed true
  [ "$(jq -r '.uid' <<<"$output")" = "service-create" ]
}

@test "an AdmissionReview document is accepted as request" {
  policy test_data/settings/seed-step1.yaml test_data/requests/pod-admissionreview.json
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

# --- Modes and no-match policies ---------------------------------------------------------

@test "static fail in enforce mode denies with the authority's message" {
  policy test_data/settings/static-fail.yaml "$(with_image test_data/requests/pod.json ghcr.io/acme/app:v1)"
  allowed false
  [ "$(message)" = $'validation failed: failed policy: deny-all: spec.containers[0].image\nghcr.io/acme/app:v1 disallowed by static policy: nothing runs here' ]
}

@test "warn mode: a failing CIP admits with a warning" {
  policy test_data/settings/static-fail-warn.yaml "$(with_image test_data/requests/pod.json nginx:1.27)"
  allowed true
  [ "$(warnings)" = $'failed policy: quarantine: spec.containers[0].image\nnginx:1.27 disallowed by static policy: library images are being phased out' ]
}

@test "warn mode does not cover images its globs miss" {
  policy test_data/settings/static-fail-warn.yaml "$(with_image test_data/requests/pod.json ghcr.io/acme/app:v1)"
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nghcr.io/acme/app:v1' ]
}

@test "noMatchPolicy warn admits unmatched images with a warning" {
  policy test_data/settings/no-match-warn.yaml test_data/requests/pod.json
  allowed true
  [ "$(warnings)" = $'no matching policies: spec.containers[0].image\nnginx' ]
}

@test "noMatchPolicy allow admits unmatched images silently" {
  policy test_data/settings/no-match-allow.yaml test_data/requests/pod.json
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "noMatchPolicy deny is the default" {
  policy test_data/settings/seed-step2.yaml test_data/requests/pod.json
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

# --- Bad input ---------------------------------------------------------------------------

@test "an unparsable image is denied whatever the no-match policy" {
  policy test_data/settings/no-match-allow.yaml "$(with_image test_data/requests/pod.json NGINX)"
  allowed false
  [ "$(message)" = $'validation failed: could not parse reference: NGINX: spec.containers[0].image\nrepository name must be lowercase' ]
}

@test "an image with a malformed digest is denied" {
  policy test_data/settings/seed-step3.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx@sha256:1234)"
  allowed false
  [ "$(message)" = $'validation failed: could not parse reference: cgr.dev/chainguard/nginx@sha256:1234: spec.containers[0].image\ninvalid reference format' ]
}

@test "invalid settings: every error is reported, with the policy's name and field path" {
  policy test_data/settings/invalid-many.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"Provided settings are not valid: "* ]]
  [[ "$stderr" == *'policies[0] (broken): invalid value: garbage: spec.mode'* ]]
  [[ "$stderr" == *'policies[0] (broken): invalid value: $FOO*: spec.images[0].glob'*'glob is invalid: invalid glob "$FOO*"'* ]]
  [[ "$stderr" == *'policies[0] (broken): invalid value: maybe: spec.authorities[0].static.action'* ]]
  [[ "$stderr" == *'policies[1] (broken): invalid value: ImagePolicy: kind'* ]]
  [[ "$stderr" == *'policies[1] (broken): expected exactly one, got neither: spec.authorities[0].key, spec.authorities[0].keyless, spec.authorities[0].static'* ]]
  [[ "$stderr" == *'policies[1] (broken): invalid value: broken: metadata.name'*'duplicate name'* ]]
}

@test "invalid settings: a Rego policy that does not parse" {
  policy test_data/settings/invalid-rego.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (bad-rego): invalid rego policy: spec.policy.data'* ]]
}

@test "invalid settings: a CUE policy is named as unsupported" {
  policy test_data/settings/unsupported-cue.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (cue-policy): not supported: spec.policy.type'*'no CUE evaluator for Rust'* ]]
}

@test "invalid settings: an unknown field is refused with its path" {
  printf 'noMatchPolicy: deny\npolicies:\n  - apiVersion: policy.sigstore.dev/v1beta1\n    kind: ClusterImagePolicy\n    metadata: {name: old}\n    spec:\n      images: [{regex: "ghcr.io/.*"}]\n' >"$BATS_TEST_TMPDIR/s.yaml"
  policy "$BATS_TEST_TMPDIR/s.yaml" test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0].spec.images[0].regex: unknown field `regex`, expected `glob`'* ]]
}

# --- Signatures and digests through host capabilities (recorded sessions) ---------------
# The sessions in test_data/sessions/ were recorded with a real kwctl against a real registry
# holding images signed with real cosign signatures (keys in test_data/keys/).

SIGNED=127.0.0.1:5000/demo/app:signed
UNSIGNED=127.0.0.1:5000/demo/app:unsigned
SIGNED_DIGEST=sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32
KEYLESS=127.0.0.1:5000/keyless/app:v1
KEYLESS_DIGEST=sha256:54d7a68826810e6b10a084c2058086101483de45bd698c380d34a69dddfab10e

replay() { echo --replay-host-capabilities-interactions "test_data/sessions/$1"; }
patch_json() { jq -c '.patch | @base64d | fromjson' <<<"$output"; }

@test "key: an image signed with the key is admitted and pinned to the verified digest" {
  policy test_data/settings/key-k1.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay signed.yml)
  allowed true
  [ "$(jq -r .patchType <<<"$output")" = "JSONPatch" ]
  [ "$(patch_json)" = "[{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"$SIGNED@$SIGNED_DIGEST\"}]" ]
}

@test "key: an unsigned image is denied with the host's words" {
  policy test_data/settings/key-k1.yaml "$(with_image test_data/requests/pod.json $UNSIGNED)" $(replay unsigned.yml)
  allowed false
  [ "$(message)" = "validation failed: failed policy: signed-by-k1: spec.containers[0].image"$'\n'"$UNSIGNED signature key validation failed for authority authority-0 for $UNSIGNED: no signatures found for image: $UNSIGNED" ]
  [ "$(jq -r .patch <<<"$output")" = "null" ]
}

@test "key: a wrong key is denied with the unsatisfied constraint" {
  policy test_data/settings/key-k2.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay key-wrong.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: signed-by-k2: spec.containers[0].image"$'\n'"$SIGNED signature key validation failed for authority authority-0 for $SIGNED: Image verification failed: missing signatures"$'\n'"The following constraints were not satisfied:"$'\n'"kind: pubKey"* ]]
  [[ "$(message)" != *"Callback evaluation failure"* ]]
}

@test "key: two keys in one authority, only the second signed: admitted (one host call per key)" {
  policy test_data/settings/key-k2-or-k1.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay key-second-signed.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$SIGNED@$SIGNED_DIGEST" ]
}

@test "key: a multi-platform image is pinned to its index digest" {
  policy test_data/settings/key-k1.yaml "$(with_image test_data/requests/pod.json 127.0.0.1:5000/demo/multi:v1)" $(replay key-multi.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "127.0.0.1:5000/demo/multi:v1@sha256:6ad1fab3810407cfc7a440af365980edc8f7fef5d800b7cb0e9767fac7977156" ]
}

@test "keyless: the exact identity that signed is admitted and pinned" {
  policy test_data/settings/keyless-alice.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-exact.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$KEYLESS@$KEYLESS_DIGEST" ]
}

@test "keyless: another subject is denied" {
  policy test_data/settings/keyless-bob.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-mismatch.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: bob: spec.containers[0].image"$'\n'"$KEYLESS signature keyless validation failed for authority authority-0 for $KEYLESS: Image verification failed: missing signatures"* ]]
  [[ "$(message)" == *"subject: !equal bob@example.com"* ]]
}

@test "keyless: issuerRegExp/subjectRegExp pick the certificate's identity, which the host verifies" {
  policy test_data/settings/keyless-regexp.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-regexp.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$KEYLESS@$KEYLESS_DIGEST" ]
}

@test "two authorities: one failing, one passing, admit" {
  policy test_data/settings/two-authorities.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay key-second-signed.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$SIGNED@$SIGNED_DIGEST" ]
}

@test "two CIPs: the failing one denies" {
  policy test_data/settings/two-cips.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay two-cips-one-fails.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: signed-by-k2: spec.containers[0].image"$'\n'"$SIGNED signature key validation failed for authority authority-0 for $SIGNED: Image verification failed"* ]]
  [[ "$(message)" != *"signed-by-k1"* ]]
}

@test "warn mode: a failing signature admits with a warning and no mutation" {
  policy test_data/settings/key-k1-warn.yaml "$(with_image test_data/requests/pod.json $UNSIGNED)" $(replay unsigned.yml)
  allowed true
  [ "$(warnings)" = "failed policy: signed-by-k1: spec.containers[0].image"$'\n'"$UNSIGNED signature key validation failed for authority authority-0 for $UNSIGNED: no signatures found for image: $UNSIGNED" ]
  [ "$(jq -r .patch <<<"$output")" = "null" ]
}

@test "static only with modifyImagesWithDigest false: no host call at all (empty session)" {
  policy test_data/settings/static-no-pin.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay empty.yml)
  allowed true
  [ "$(jq -r .patch <<<"$output")" = "null" ]
}

@test "static only with digest pinning: one digest lookup; a host error mid-request denies with its words" {
  jq --arg a "$SIGNED" --arg b 127.0.0.1:5000/demo/app:nope \
    '.object.spec.containers = [{"name": "a", "image": $a}, {"name": "b", "image": $b}]' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/two.json"
  policy test_data/settings/static-pin.yaml "$BATS_TEST_TMPDIR/two.json" $(replay host-error-mid-request.yml)
  allowed false
  [ "$(message)" = "validation failed: failed to resolve digest: spec.containers[1].image"$'\n'"127.0.0.1:5000/demo/app:nope Fail to interact with OCI registry: Registry error: url http://127.0.0.1:5000/v2/demo/app/manifests/nope, envelope: OCI API errors: [OCI API error: manifest unknown]" ]
}

# --- ClusterImagePolicy conformance: match, policy input, results, limits ----------------

@test "spec.match: a CIP whose selector excludes the Pod does not apply to it" {
  policy test_data/settings/match-selector.yaml test_data/requests/pod.json
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "spec.match: a CIP whose selector matches the Pod's labels applies" {
  jq '.object.metadata.labels.tier = "db"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/db.json"
  policy test_data/settings/match-selector.yaml "$BATS_TEST_TMPDIR/db.json"
  allowed false
  [ "$(message)" = $'validation failed: failed policy: frozen-databases: spec.containers[0].image\nnginx disallowed by static policy: database pods are frozen' ]
}

@test "spec.match: a CIP for pods does not apply to a Deployment, whatever its labels" {
  jq '.object.metadata.labels.tier = "db" | .object.spec.template.metadata.labels.tier = "db"' test_data/requests/deployment.json >"$BATS_TEST_TMPDIR/d.json"
  policy test_data/settings/match-selector.yaml "$BATS_TEST_TMPDIR/d.json"
  allowed true
}

@test "include flags: spec, metadata and typemeta of the Pod reach the Rego input" {
  jq '.object.metadata.labels.team = "payments"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/p.json"
  policy test_data/settings/include-meta.yaml "$BATS_TEST_TMPDIR/p.json"
  allowed true
}

@test "include flags: a Job's typemeta is Job, so the Pod-only policy denies it" {
  jq '.object.metadata.labels.team = "payments"' test_data/requests/job.json >"$BATS_TEST_TMPDIR/j.json"
  policy test_data/settings/include-meta.yaml "$BATS_TEST_TMPDIR/j.json"
  allowed false
  [ "$(message)" = "validation failed: failed policy: pods-owned-by-team: spec.template.spec.containers[0].image"$'\n'"nginx $REGO_NOT_COMPLIANT" ]
}

@test "include flags: metadata is the object's own (a missing label denies)" {
  policy test_data/settings/include-meta.yaml test_data/requests/pod.json
  allowed false
}

@test "fetchConfigFile: the image configuration (recorded) reaches input.config, keyed linux/amd64" {
  policy test_data/settings/fetch-config.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay fetch-config-single.yml)
  allowed false
  [ "$(message)" = "validation failed: failed policy: non-root: spec.containers[0].image"$'\n'"$SIGNED failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: the image runs as root (config.User is empty)" ]
}

@test "configMapRef: the policy is read from the ConfigMap (context-aware)" {
  policy test_data/settings/configmap-policy.yaml "$(with_image test_data/requests/pod.json nginx:1.27)" $(replay configmap-policy.yml) --allow-context-aware
  allowed true
}

@test "configMapRef: the ConfigMap's policy denies a :latest image" {
  policy test_data/settings/configmap-policy.yaml "$(with_image test_data/requests/pod.json nginx:latest)" $(replay configmap-policy.yml) --allow-context-aware
  allowed false
  [ "$(message)" = "validation failed: failed policy: policy-from-configmap: spec.containers[0].image"$'\n'"nginx:latest $REGO_NOT_COMPLIANT" ]
}

@test "configMapRef: a missing ConfigMap fails the CIP with the host's words" {
  policy test_data/settings/configmap-policy.yaml test_data/requests/pod.json $(replay configmap-missing.yml) --allow-context-aware
  allowed false
  [ "$(message)" = $'validation failed: failed policy: policy-from-configmap: spec.containers[0].image\nnginx failed to read the policy: cannot read configmap "image-policy": configmaps "image-policy" not found' ]
}

@test "result objects: result false denies with its error" {
  policy test_data/settings/result-objects.yaml "$(with_image test_data/requests/pod.json docker.io/library/nginx:1.27)"
  allowed false
  [ "$(message)" = "validation failed: failed policy: registry-rules: spec.containers[0].image"$'\n'"docker.io/library/nginx:1.27 failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: write images as index.docker.io or a mirror" ]
}

@test "result objects: result true with a warning admits with the warning" {
  policy test_data/settings/result-objects.yaml "$(with_image test_data/requests/pod.json k8s.gcr.io/pause:3.9)"
  allowed true
  [ "$(warnings)" = $'warning from policy: registry-rules: spec.containers[0].image\nk8s.gcr.io/pause:3.9 k8s.gcr.io is frozen, move to registry.k8s.io' ]
}

@test "result objects: result true admits silently" {
  policy test_data/settings/result-objects.yaml "$(with_image test_data/requests/pod.json registry.k8s.io/pause:3.9)"
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "a runaway Rego policy is stopped by the time budget and denies" {
  policy test_data/settings/runaway-rego.yaml test_data/requests/pod.json
  allowed false
  [[ "$(message)" == "validation failed: failed policy: runaway: spec.containers[0].image"$'\n'"nginx failed evaluating rego policy for type ClusterImagePolicy: "*"time limit"* ]]
}

# --- Settings messages and the README's offline workflow ---------------------------------

@test "settings messages: every type error at once, and the other checks on what decodes" {
  policy test_data/settings/type-errors.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *'Provided settings are not valid: noMatchPolicy: invalid type: boolean `true`, expected one of `deny`, `warn`, `allow`'$'\n''regoTimeoutMilliseconds: invalid type: string "1s", expected u64'$'\n''policies[0].spec.images[0].regex: unknown field `regex`, expected `glob`'$'\n''policies[2].spec.images: invalid type: string "ghcr.io/**", expected a sequence'$'\n''policies[1] (bad-mode): invalid value: garbage: spec.mode'$'\n''unsupported mode'* ]]
}

@test "settings messages: a ClusterImagePolicy given as the whole settings says to put it under policies:" {
  policy test_data/cips/chainguard-image-policy.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'Provided settings are not valid: the settings are a ClusterImagePolicy manifest (ClusterImagePolicy chainguard-image-policy), not the policy'"'"'s settings: the settings are a mapping with the ClusterImagePolicies in a list under `policies:`'* ]]
}

@test "settings messages: key.data left as a placeholder says so, after upstream's line" {
  policy test_data/settings/key-placeholder.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (custom-key): invalid value: -----BEGIN PUBLIC KEY-----'$'\n''...'$'\n''-----END PUBLIC KEY-----'$'\n'': spec.authorities[0].key.data'$'\n''a placeholder (`...`), not a key: replace it with the public key in PEM format (the contents of cosign.pub)'* ]]
}

@test "settings messages: a private key in key.data is named and never shown" {
  policy test_data/settings/key-private.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (signed-by-release-key): invalid value: <private key, not shown>: spec.authorities[0].key.data'$'\n''a private key (a "-----BEGIN PRIVATE KEY-----" block): '* ]]
  [[ "$stderr" != *MIGHAgEAMBMG* ]]
  [[ "$stderr" != *9yZZI09RRY4p* ]]
}

@test "README: a glob docker.io/library/nginx* does not match nginx (index.docker.io/library/nginx:latest)" {
  policy test_data/settings/glob-docker-io.yaml "$(with_image test_data/requests/pod.json nginx)"
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
  sed 's|glob: "docker.io/library/nginx\*"|glob: "index.docker.io/library/nginx*"|' test_data/settings/glob-docker-io.yaml >"$BATS_TEST_TMPDIR/index.yaml"
  grep -q 'glob: "index.docker.io/library/nginx\*"' "$BATS_TEST_TMPDIR/index.yaml"
  policy "$BATS_TEST_TMPDIR/index.yaml" "$(with_image test_data/requests/pod.json nginx)"
  allowed true
}

@test "README: its jq program turns a manifest into a request the policy decides" {
  program=$(awk '/<!-- manifest-to-request/{f=1;next} /<!-- \/manifest-to-request/{f=0} f' README.md \
    | sed -n "/^jq '/,/' \\\\\$/p" | sed -e "1s/^jq '//" -e "\$s/' \\\\\$//")
  [ -n "$program" ]
  jq '.object' test_data/requests/deployment.json >"$BATS_TEST_TMPDIR/deployment.json"
  jq "$program" "$BATS_TEST_TMPDIR/deployment.json" >"$BATS_TEST_TMPDIR/request.json"
  [ "$(jq -c '[.kind, .resource, .operation, .namespace, .name]' "$BATS_TEST_TMPDIR/request.json")" = "$(jq -c '[.kind, .resource, .operation, .namespace, .name]' test_data/requests/deployment.json)" ]
  policy test_data/settings/seed-step2.yaml "$BATS_TEST_TMPDIR/request.json"
  allowed false
  [ "$(message)" = $'validation failed: no matching policies: spec.template.spec.containers[0].image\nnginx' ]
}

@test "README: the seed-scenario table is what make demo prints" {
  run --separate-stderr env KWCTL="$KWCTL" POLICY="$POLICY" bash scripts/demo.sh
  [ "$status" -eq 0 ]
  demo=$(awk '
    /ClusterImagePolicies: / { s = $0; sub(/.*\(/, "", s); sub(/\)$/, "", s); sub(/.*\//, "", s); session = "none"; next }
    /request: .*image = / { image = $0; sub(/.*image = /, "", image); next }
    /host capabilities: replayed from / { session = $0; sub(/.*replayed from /, "", session); sub(/ .*/, "", session); sub(/.*\//, "", session); next }
    /verdict: / { v = ($0 ~ /ADMITTED/) ? "admitted" : "denied"; printf "%s|%s|%s|%s", s, session, image, v; open = 1; first = 1; next }
    open && /^      / { line = $0; sub(/^      /, "", line); printf "%s%s", (first ? ": " : "\\n"), line; first = 0; next }
    open && /^$/ { print ""; open = 0 }
  ' <<<"$output")
  table=$(awk -F'|' '
    function code(text) { return match(text, /`[^`]*`/) ? substr(text, RSTART + 1, RLENGTH - 2) : "" }
    /^## The seed scenario/ { f = 1; next }
    /^## / { f = 0 }
    f && /^\| / && !/^\| step/ && !/^\|---/ {
      session = ($4 ~ /none/) ? "none" : code($4)
      if ($6 ~ /admitted, mutated: /) v = "admitted: mutation: " code($6)
      else if ($6 ~ /admitted/) v = "admitted"
      else v = "denied: " code($6)
      print code($3) "|" session "|" code($5) "|" v
    }
  ' README.md)
  echo "demo:"; echo "$demo"; echo "table:"; echo "$table"
  [ "$(wc -l <<<"$table")" -eq 7 ]
  [ "$demo" = "$table" ]
}
