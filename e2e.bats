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
  [[ "$(message)" == "validation failed: failed policy: signed-by-k1: spec.containers[0].image"$'\n'"$UNSIGNED signature key validation failed for authority authority-0 for $UNSIGNED: no signatures found for image: $UNSIGNED"$'\n'"this host cannot see every kind of signature: "* ]]
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
  [[ "$(warnings)" == "failed policy: signed-by-k1: spec.containers[0].image"$'\n'"$UNSIGNED signature key validation failed for authority authority-0 for $UNSIGNED: no signatures found for image: $UNSIGNED"$'\n'"this host cannot see every kind of signature: "* ]]
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
  [ "$(message)" = "validation failed: failed policy: registry-rules: spec.containers[0].image"$'\n'"docker.io/library/nginx:1.27 failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: pull Docker Hub images through the mirror" ]
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

# --- Image spellings (issue 11): no spelling may dodge a glob ------------------------------
# test_data/settings/spellings.yaml: allow-all (`**`, pass) and no-evil (deny globs). Each row
# of the spelling table (src/reference/mod.rs) is either matched as its canonical name, so
# no-evil denies it, or refused outright.

# denied_by_no_evil IMAGE: the image is denied by no-evil, with upstream's message.
denied_by_no_evil() {
  policy test_data/settings/spellings.yaml "$(with_image test_data/requests/pod.json "$1")"
  [ "$status" -eq 0 ]
  allowed false
  [ "$(message)" = "validation failed: failed policy: no-evil: spec.containers[0].image"$'\n'"$1 disallowed by static policy: evil" ]
}

# refused IMAGE: the image is denied as a reference that cannot be canonical.
refused() {
  policy test_data/settings/spellings.yaml "$(with_image test_data/requests/pod.json "$1")"
  [ "$status" -eq 0 ]
  allowed false
  [[ "$(message)" == "validation failed: could not parse reference: $1: spec.containers[0].image"$'\n'* ]]
}

D746="sha256:746e67e09afbfec2e3298c09f4254cf0906deb5b6008374a8763c93b863e9a32"

@test "spellings: the canonical spelling is denied, another image admitted" {
  denied_by_no_evil ghcr.io/evil/x:1
  policy test_data/settings/spellings.yaml "$(with_image test_data/requests/pod.json ghcr.io/good/x:1)"
  allowed true
}
@test "spellings: registry host in upper case (GHCR.IO) is denied" {
  denied_by_no_evil GHCR.IO/evil/x:1
}
@test "spellings: registry host in mixed case is denied" {
  denied_by_no_evil Ghcr.Io/evil/x:1
}
@test "spellings: an explicit default port :443 is denied" {
  denied_by_no_evil ghcr.io:443/evil/x:1
}
@test "spellings: an explicit port :80 is refused (containerd reads https on port 80, Docker plain http)" {
  refused ghcr.io:80/evil/x:1
  [[ "$(message)" == *"the registry port 80 is read differently by the container runtimes"* ]]
  refused ghcr.io:80/good/x:1
}
@test "spellings: a zero-padded port is denied" {
  denied_by_no_evil ghcr.io:0443/evil/x:1
}
@test "spellings: a zero-padded non-default port is denied" {
  denied_by_no_evil localhost:05000/evil/x
}
@test "spellings: port 0 is refused" {
  refused ghcr.io:0/evil/x:1
}
@test "spellings: a port over 65535 is refused" {
  refused ghcr.io:65536/evil/x:1
}
@test "spellings: Docker Hub without a registry is denied" {
  denied_by_no_evil evil/x
}
@test "spellings: Docker Hub as docker.io is denied" {
  denied_by_no_evil docker.io/evil/x
}
@test "spellings: Docker Hub as registry-1.docker.io is denied" {
  denied_by_no_evil registry-1.docker.io/evil/x:1
}
@test "spellings: Docker Hub as registry.hub.docker.com is denied" {
  denied_by_no_evil registry.hub.docker.com/evil/x
}
@test "spellings: Docker Hub with a port and in upper case is denied" {
  denied_by_no_evil INDEX.DOCKER.IO:443/evil/x
}
@test "spellings: a Docker Hub library image without library/ is denied" {
  denied_by_no_evil evilbox
}
@test "spellings: a Docker Hub library image as docker.io/evilbox is denied" {
  denied_by_no_evil docker.io/evilbox:1
}
@test "spellings: a Docker Hub library image with library/ is denied" {
  denied_by_no_evil library/evilbox
}
@test "spellings: no tag means :latest" {
  denied_by_no_evil ghcr.io/good/app
}
@test "spellings: a tag beside a digest is matched on the digest" {
  denied_by_no_evil "ghcr.io/evil/x:1@$D746"
}
@test "spellings: a digest in upper-case hex is refused" {
  refused "ghcr.io/evil/x@sha256:$(printf 'A%.0s' $(seq 64))"
}
@test "spellings: a sha512 digest is refused" {
  refused "ghcr.io/evil/x@sha512:$(printf 'a%.0s' $(seq 128))"
}
@test "spellings: localhost without a port is the registry on localhost" {
  denied_by_no_evil localhost/evil
}
@test "spellings: an upper-case first component is refused" {
  refused EVIL/x
}
@test "spellings: a trailing dot on the host is refused" {
  refused ghcr.io./evil/x:1
}
@test "spellings: an IPv6 literal host is refused" {
  refused "[::1]:5000/evil/x"
}
@test "spellings: upper case in the repository is refused" {
  refused ghcr.io/Evil/x:1
}

@test "spellings: a glob whose registry is not canonical is a settings error naming the glob to write" {
  sed 's#"ghcr.io/evil/\*\*"#"GHCR.IO:443/evil/**"#' test_data/settings/spellings.yaml >"$BATS_TEST_TMPDIR/s.yaml"
  policy "$BATS_TEST_TMPDIR/s.yaml" test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"invalid value: GHCR.IO:443/evil/**: spec.images[0].glob"* ]]
  [[ "$stderr" == *"write ghcr.io/evil/**"* ]]
}

@test "tag beside a digest: counts when the host confirms it names the digest" {
  policy test_data/settings/tag-beside-digest.yaml "$(with_image test_data/requests/pod.json "127.0.0.1:5000/demo/app:signed@$D746")" \
    --replay-host-capabilities-interactions test_data/sessions/tag-confirm.yml
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "tag beside a digest: a tag that names another digest is not used" {
  other="sha256:0000000000000000000000000000000000000000000000000000000000000000"
  policy test_data/settings/tag-beside-digest.yaml "$(with_image test_data/requests/pod.json "127.0.0.1:5000/demo/app:signed@$other")" \
    --replay-host-capabilities-interactions test_data/sessions/tag-confirm.yml
  allowed false
  [ "$(message)" = "validation failed: no matching policies: spec.containers[0].image"$'\n'"127.0.0.1:5000/demo/app:signed@$other" ]
  [ "$(warnings)" = "tag not used for matching: spec.containers[0].image"$'\n'"127.0.0.1:5000/demo/app:signed@$other the tag names $D746 now, not the pinned digest: only the digest was matched" ]
}

@test "tag beside a digest: a host error confirming the tag denies with the host's words" {
  policy test_data/settings/tag-beside-digest.yaml "$(with_image test_data/requests/pod.json "127.0.0.1:5000/demo/app:signed@$D746")"
  allowed false
  [[ "$(message)" == "validation failed: failed to confirm the tag: spec.containers[0].image"$'\n'"127.0.0.1:5000/demo/app:signed@$D746 "* ]]
}

@test "object: an UPDATE of a Pod being deleted that changes an image is checked" {
  jq '.operation = "UPDATE" | .object.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
      | .oldObject = .object | .object.spec.containers[0].image = "ghcr.io/evil/x:1"' \
    test_data/requests/pod.json >"$BATS_TEST_TMPDIR/u.json"
  policy test_data/settings/spellings.yaml "$BATS_TEST_TMPDIR/u.json"
  allowed false
  [ "$(message)" = "validation failed: failed policy: no-evil: spec.containers[0].image"$'\n'"ghcr.io/evil/x:1 disallowed by static policy: evil" ]
}

@test "object: an UPDATE of a Pod being deleted that changes no image is skipped" {
  jq '.operation = "UPDATE" | .object.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
      | .object.spec.containers[0].image = "ghcr.io/evil/x:1" | .oldObject = .object' \
    test_data/requests/pod.json >"$BATS_TEST_TMPDIR/u.json"
  policy test_data/settings/spellings.yaml "$BATS_TEST_TMPDIR/u.json"
  allowed true
}

# --- Rego policies that cannot work, and time builtins (issue 10) --------------------------

@test "rego: Rego v1 syntax without import rego.v1 is a settings error naming spec.policy.data and the fix" {
  policy test_data/settings/rego-v1-without-import.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest)"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"Provided settings are not valid: "* ]]
  [[ "$stderr" == *'policies[0] (disallow-latest-v1): invalid rego policy: spec.policy.data'$'\n''sigstore.rego:3:13: `if` is a Rego v1 keyword, but the policy is parsed as Rego v0 (as policy-controller does), where without its import it is a plain name, so the policy does not mean what it says; add `import rego.v1` (for Rego v1 syntax), or write Rego v0'* ]]
}

@test "rego: the same policy with import rego.v1 denies :latest and admits :latest-dev" {
  policy test_data/settings/rego-v1-with-import.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest)"
  [ "$status" -eq 0 ]
  allowed false
  [ "$(message)" = "validation failed: failed policy: disallow-latest-v1: spec.containers[0].image"$'\n'"cgr.dev/chainguard/nginx:latest $REGO_NOT_COMPLIANT" ]
  policy test_data/settings/rego-v1-with-import.yaml "$(with_image test_data/requests/pod.json cgr.dev/chainguard/nginx:latest-dev)"
  allowed true
}

@test "rego: another package, http.send and crypto.* are settings errors naming spec.policy.data and the builtin" {
  policy test_data/settings/invalid-rego-policies.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (wrong-package): invalid rego policy: spec.policy.data'$'\n''sigstore.rego:1:9: the package is `foo`: the policy must be `package sigstore`, since it is queried with `isCompliant = data.sigstore.isCompliant`'* ]]
  [[ "$stderr" == *'policies[1] (unavailable-builtins): invalid rego policy: spec.policy.data'$'\n''sigstore.rego:5:11: `http.send` cannot be called here: the module has no network access'* ]]
  [[ "$stderr" == *'sigstore.rego:9:12: `crypto.x509.parse_certificates` cannot be called here: regorus has no cryptographic builtins;'* ]]
}

# two_containers IMAGE1 IMAGE2: test_data/requests/pod.json with two containers.
two_containers() {
  jq --arg a "$1" --arg b "$2" '.object.spec.containers = [{"name": "app", "image": $a}, {"name": "sidecar", "image": $b}]' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/two.json"
  echo "$BATS_TEST_TMPDIR/two.json"
}

@test "rego: regex.match admits release tags on every container and denies the one that is not" {
  policy test_data/settings/rego-release-tags.yaml "$(two_containers ghcr.io/team/app:v1.2.3 ghcr.io/team/sidecar:2.0.1)"
  [ "$status" -eq 0 ]
  allowed true
  policy test_data/settings/rego-release-tags.yaml "$(two_containers ghcr.io/team/app:v1.2.3 ghcr.io/team/sidecar:latest)"
  allowed false
  [ "$(message)" = "validation failed: failed policy: release-tags: spec.containers[1].image"$'\n'"ghcr.io/team/sidecar:latest $REGO_NOT_COMPLIANT with errors: ghcr.io/team/sidecar:latest is not a release tag" ]
}

@test "rego: regex.match with one argument is a settings error in the builtin's words" {
  policy test_data/settings/rego-regex-arity.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *'policies[0] (one-argument): invalid rego policy: spec.policy.data'$'\n''sigstore.rego:3:3: `regex.match` expects 2 arguments (given 1)'* ]]
}

@test "rego: a ConfigMap policy in Rego v1 syntax without the import fails its CIP at admission" {
  policy test_data/settings/configmap-policy.yaml "$(with_image test_data/requests/pod.json nginx:latest)" $(replay configmap-policy-v1-without-import.yml) --allow-context-aware
  [ "$status" -eq 0 ]
  allowed false
  [ "$(message)" = "validation failed: failed policy: policy-from-configmap: spec.containers[0].image"$'\n''nginx:latest failed evaluating rego policy for type ClusterImagePolicy: sigstore.rego:3:13: `if` is a Rego v1 keyword, but the policy is parsed as Rego v0 (as policy-controller does), where without its import it is a plain name, so the policy does not mean what it says; add `import rego.v1` (for Rego v1 syntax), or write Rego v0' ]
}

# max_age_session CREATED: test_data/sessions/max-image-age.yml with the image created at CREATED.
max_age_session() {
  sed "s/2026-11-30T12:00:00Z/$1/" test_data/sessions/max-image-age.yml >"$BATS_TEST_TMPDIR/max-image-age.yml"
  echo --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/max-image-age.yml"
}
MAX_AGE_FAILURE="failed policy: maximum-image-age-rego: spec.containers[0].image"$'\n'"$SIGNED failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query 'isCompliant = data.sigstore.isCompliant' with errors: Image exceeds maximum allowed age."

@test "max image age (Chainguard catalog, as written): an image created yesterday is admitted" {
  policy test_data/settings/max-image-age.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(max_age_session "$(jq -nr 'now - 86400 | todate')")
  [ "$status" -eq 0 ]
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "max image age (Chainguard catalog, as written, mode warn): an image created 31 days ago is admitted with the policy's error as a warning" {
  policy test_data/settings/max-image-age.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(max_age_session "$(jq -nr 'now - 31 * 86400 | todate')")
  allowed true
  [ "$(warnings)" = "$MAX_AGE_FAILURE" ]
}

@test "max image age, enforced: an old image is denied with the policy's message, a recent one admitted" {
  sed 's/      mode: warn/      mode: enforce/' test_data/settings/max-image-age.yaml >"$BATS_TEST_TMPDIR/enforce.yaml"
  grep -q 'mode: enforce' "$BATS_TEST_TMPDIR/enforce.yaml"
  policy "$BATS_TEST_TMPDIR/enforce.yaml" "$(with_image test_data/requests/pod.json $SIGNED)" $(max_age_session 2020-01-01T00:00:00Z)
  allowed false
  [ "$(message)" = "validation failed: $MAX_AGE_FAILURE" ]
  policy "$BATS_TEST_TMPDIR/enforce.yaml" "$(with_image test_data/requests/pod.json $SIGNED)" $(max_age_session "$(jq -nr 'now - 29 * 86400 | todate')")
  allowed true
}

# --- Real ClusterImagePolicies, a declared private Sigstore, secretRef namespaces (issue 12) ---

# real_cip_settings FILE [DECLARED]: settings holding the CIP of test_data/real-cips/FILE alone
# (after the trust declaration of host-sigstore-trust.yaml when DECLARED is set).
real_cip_settings() {
  local out="$BATS_TEST_TMPDIR/real-cip.yaml"
  {
    if [ -n "${2:-}" ]; then cat test_data/real-cips/host-sigstore-trust.yaml; fi
    printf 'policies:\n  -\n'
    sed 's/^/    /' "test_data/real-cips/$1"
  } >"$out"
  echo "$out"
}

# real_cip_run FILE [DECLARED]: runs the module with those settings and sets $verdict:
# "accepted", "rejected" (the module refused the settings; its message is in $stderr) or
# "unreadable" (the settings file is not YAML: the module never ran; exit code 1, no panic).
real_cip_run() {
  policy "$(real_cip_settings "$@")" test_data/requests/pod.json $(replay empty.yml) >/dev/null
  if [ "$status" -eq 0 ]; then
    verdict=accepted
  elif [ "$status" -eq 1 ] && [[ "$stderr" == *"Provided settings are not valid: "* ]]; then
    verdict=rejected
  elif [ "$status" -eq 1 ] && [ -z "$output" ] && [[ "$stderr" != *"panicked at"* ]]; then
    verdict=unreadable
  else
    verdict="unexpected (status $status)"
  fi
}

@test "real CIPs: every copied ClusterImagePolicy gets its EXPECTED.tsv verdict from the module" {
  local failures="" file expect field declared expected verdict
  local -a want
  while IFS=$'\t' read -r file expect field _; do
    [ "$file" = file ] && continue
    case "$expect" in
      accept) want=(accepted accepted) ;;
      accept-if-host-trust-declared) want=(rejected accepted) ;;
      reject-host-limit) want=(rejected rejected) ;;
      reject-invalid-upstream-too) [ "$field" = yaml ] && want=(unreadable unreadable) || want=(rejected rejected) ;;
      *) failures+="$file: unknown verdict $expect"$'\n'; continue ;;
    esac
    for declared in "" yes; do
      # bats' `run` uses its own loop variables: read the expectation before running.
      expected="${want[0]}"; [ -n "$declared" ] && expected="${want[1]}"
      real_cip_run "$file" $declared
      if [ "$verdict" != "$expected" ]; then
        failures+="$file (declared: ${declared:-no}): $verdict, expected $expected: $stderr"$'\n'
      elif [ "$verdict" = rejected ] && [[ "$stderr" != *"$field"* ]]; then
        failures+="$file (declared: ${declared:-no}): the message does not name $field: $stderr"$'\n'
      elif [ "$verdict" = rejected ] && [ "$expect" = accept-if-host-trust-declared ] && [[ "$stderr" != *hostSigstoreTrust* ]]; then
        failures+="$file: the message does not say how to declare the trust: $stderr"$'\n'
      fi
    done
  done <test_data/real-cips/EXPECTED.tsv
  echo "$failures"
  [ -z "$failures" ]
}

@test "secretRef without a namespace: the Secret is read from cosign-system and its key verifies" {
  policy test_data/settings/key-secret-ref.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay secret-ref-default-namespace.yml) --allow-context-aware
  allowed true
  [ "$(patch_json)" = "[{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"$SIGNED@$SIGNED_DIGEST\"}]" ]
}

@test "secretRef without a namespace: policyControllerNamespace says where policy-controller ran" {
  { echo "policyControllerNamespace: sigstore-system"; cat test_data/settings/key-secret-ref.yaml; } >"$BATS_TEST_TMPDIR/s.yaml"
  sed 's/namespace: cosign-system/namespace: sigstore-system/; s/"namespace":"cosign-system"/"namespace":"sigstore-system"/' \
    test_data/sessions/secret-ref-default-namespace.yml >"$BATS_TEST_TMPDIR/session.yml"
  policy "$BATS_TEST_TMPDIR/s.yaml" "$(with_image test_data/requests/pod.json $SIGNED)" \
    --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/session.yml" --allow-context-aware
  allowed true
}

@test "private Sigstore: a declared private Fulcio and Rekor are accepted and the host verifies the keyless signature" {
  policy test_data/settings/keyless-private-sigstore.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-exact.yml)
  [ "$status" -eq 0 ]
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$KEYLESS@$KEYLESS_DIGEST" ]
}

@test "private Sigstore: undeclared, the Fulcio and Rekor URLs are settings errors saying how to declare them" {
  sed '/^hostSigstoreTrust:/,/^policies:/{/^policies:/!d}' test_data/settings/keyless-private-sigstore.yaml >"$BATS_TEST_TMPDIR/s.yaml"
  policy "$BATS_TEST_TMPDIR/s.yaml" "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-exact.yml)
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (alice-private): invalid value: https://fulcio.example.com: spec.authorities[0].keyless.url'*'hostSigstoreTrust: {fulcioUrls: ["https://fulcio.example.com"]}'* ]]
  [[ "$stderr" == *'policies[0] (alice-private): invalid value: https://rekor.example.com: spec.authorities[0].ctlog.url'*'hostSigstoreTrust: {rekorUrls: ["https://rekor.example.com"]}'* ]]
}

@test "private Sigstore: publicGoodInstance false refuses a CIP that relies on the public Fulcio" {
  sed 's|url: https://fulcio.example.com|url: https://fulcio.sigstore.dev|' test_data/settings/keyless-private-sigstore.yaml >"$BATS_TEST_TMPDIR/s.yaml"
  policy "$BATS_TEST_TMPDIR/s.yaml" "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-exact.yml)
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'invalid value: https://fulcio.sigstore.dev: spec.authorities[0].keyless.url'*'hostSigstoreTrust.publicGoodInstance is false'* ]]
}

# --- Sigstore bundles (cosign v3) ----------------------------------------------------------
# Images that carry only what `cosign sign` v3 writes by default: one Sigstore bundle as an OCI
# referrer, no `.sig` tag. The sessions come from recordings with a host on sigstore-rs 0.14
# (Kubewarden 1.36+), as test_data/sessions/README.md says.

V3APP=127.0.0.1:5000/keyless/v3app:v1
V3APP_DIGEST=sha256:e36144883da201f6eb52caab9faba8b8c8005690d47a019bed5b2d9d5cfb9354
V3GHA=127.0.0.1:5000/keyless/v3gha:v2
V3GHA_DIGEST=sha256:ae7857d673c0693dd86bbfc4e4ab802bca32b6b16cb51d7b07674b9ef3b2e866
V3GHA_SIG=127.0.0.1:5000/keyless/v3gha:sha256-ae7857d673c0693dd86bbfc4e4ab802bca32b6b16cb51d7b07674b9ef3b2e866.sig
V3KEY=127.0.0.1:5000/demo/v3key:v1

@test "bundle: signatureFormat bundle with an exact keyless identity admits a bundle-only image, pinned" {
  policy test_data/settings/bundle-keyless-alice.yaml "$(with_image test_data/requests/pod.json $V3APP)" $(replay bundle-keyless-exact.yml)
  [ "$status" -eq 0 ]
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$V3APP@$V3APP_DIGEST" ]
}

@test "bundle: signatureFormat bundle on a key authority is a settings error with upstream's words" {
  policy test_data/settings/bundle-key-k1.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"policies[0] (k1-bundle): invalid value: bundle: spec.authorities[0].signatureFormat"$'\n'"when using the new bundle format, the authority must be keyless"* ]]
}

@test "bundle: a key-signed bundle the host skips: the host's words, then what it cannot see" {
  policy test_data/settings/key-k1.yaml "$(with_image test_data/requests/pod.json $V3KEY)" $(replay bundle-key-unsupported.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: signed-by-k1: spec.containers[0].image"$'\n'"$V3KEY signature key validation failed for authority authority-0 for $V3KEY: no signatures found for image: $V3KEY"$'\n'"this host cannot see every kind of signature: "* ]]
  [[ "$(message)" == *"Sigstore bundles signed with a key"*"Rekor v2 entry"*"timestamp-only bundles"*"--new-bundle-format=false"* ]]
}

@test "bundle: an anchored URL-prefix subjectRegExp on a bundle-only image becomes a prefix verification" {
  policy test_data/settings/keyless-gha-prefix.yaml "$(with_image test_data/requests/pod.json $V3GHA)" $(replay bundle-regexp-prefix.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$V3GHA@$V3GHA_DIGEST" ]
}

@test "bundle: a GitHub Actions regexp written unanchored is narrowed to the same prefix verification" {
  policy test_data/settings/keyless-gha-unanchored.yaml "$(with_image test_data/requests/pod.json $V3GHA)" $(replay bundle-regexp-prefix.yml)
  allowed true
  [ "$(patch_json | jq -r '.[0].value')" = "$V3GHA@$V3GHA_DIGEST" ]
}

@test "bundle: another organisation's prefix is denied; the certificate could not be read" {
  policy test_data/settings/keyless-gha-evil.yaml "$(with_image test_data/requests/pod.json $V3GHA)" $(replay bundle-regexp-prefix-mismatch.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: evil: spec.containers[0].image"$'\n'"$V3GHA signature keyless validation failed for authority authority-0 for $V3GHA: Image verification failed: missing signatures"* ]]
  [[ "$(message)" == *"subject: !urlPrefix https://github.com/evil/"$'\n'"annotations: null"$'\n'"the signing certificate could not be read: $V3GHA_SIG does not exist"* ]]
  [[ "$(message)" == *"was checked by the host as: issuer https://token.actions.githubusercontent.com and a subject starting with https://github.com/evil/" ]]
}

@test "bundle: a regexp the host cannot check fails on a bundle-only image, saying what to write" {
  policy test_data/settings/keyless-gha-untranslatable.yaml "$(with_image test_data/requests/pod.json $V3GHA)" $(replay bundle-sigmanifest-missing.yml)
  allowed false
  [[ "$(message)" == "validation failed: failed policy: acme-any-repo: spec.containers[0].image"$'\n'"$V3GHA signature keyless validation failed for authority authority-0 for $V3GHA: $V3GHA_SIG does not exist (Fail to interact with OCI registry: "*"manifest unknown]): the image has only Sigstore bundle signatures"* ]]
  [[ "$(message)" == *'subjectRegExp ^https://github\.com/acme/[a-z]+/: after the literal text "https://github.com/acme/" it constrains the subject further'* ]]
  [[ "$(message)" == *'Write the subject as an anchored URL prefix ending in / (subjectRegExp: ^https://github\.com/acme/)'*"or sign with cosign sign --new-bundle-format=false" ]]
}

@test "keyless: an exact identity that does not match says what the .sig certificate holds" {
  policy test_data/settings/keyless-bob.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-mismatch.yml)
  allowed false
  [[ "$(message)" == *"subject: !equal bob@example.com"$'\n'"annotations: null"$'\n'"none of the expected identities matched what was in the certificate, got subjects [alice@example.com] with issuer https://accounts.example.com" ]]
}

@test "keyless: a subjectRegExp that matches no certificate says what was found and what was expected" {
  policy test_data/settings/keyless-regexp-bob.yaml "$(with_image test_data/requests/pod.json $KEYLESS)" $(replay keyless-regexp-mismatch.yml)
  allowed false
  [ "$(message)" = "validation failed: failed policy: bob-anywhere: spec.containers[0].image"$'\n'"$KEYLESS signature keyless validation failed for authority authority-0 for $KEYLESS: none of the expected identities matched what was in the certificate, got subjects [alice@example.com] with issuer https://accounts.example.com"$'\n'"expected: issuer https://accounts.example.com, subject matching ^bob@" ]
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

@test "README: a glob docker.io/library/nginx* never matches nginx: refused, naming index.docker.io/library/nginx*" {
  policy test_data/settings/glob-docker-io.yaml "$(with_image test_data/requests/pod.json nginx)"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'invalid value: docker.io/library/nginx*: spec.images[0].glob'*'write index.docker.io/library/nginx*'* ]]
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

# --- Review findings: what can never work is refused at validation ------------------------

@test "settings: globs that never match, match entries that never apply, recursive Rego and unused static messages are settings errors" {
  policy test_data/settings/never-applies.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (deny-by-short-names): invalid value: nginx: spec.images[0].glob'*'write index.docker.io/library/nginx'* ]]
  [[ "$stderr" == *'policies[0] (deny-by-short-names): invalid value: library/nginx*: spec.images[1].glob'*'write index.docker.io/library/nginx*'* ]]
  [[ "$stderr" == *'policies[1] (deny-core-pods): invalid value: core: spec.match[0].group'* ]]
  [[ "$stderr" == *'policies[2] (recursive): invalid rego policy: spec.policy.data'*'recursion: f -> f'* ]]
  [[ "$stderr" == *'policies[0] (deny-by-short-names): invalid value: ghcr.io/evil/x: spec.images[2].glob'*'write two globs, ghcr.io/evil/x:* and ghcr.io/evil/x@*'* ]]
  [[ "$stderr" == *'policies[1] (deny-core-pods): missing field(s): spec.match[1].resource'* ]]
  [[ "$stderr" == *'policies[1] (deny-core-pods): invalid value: V1: spec.match[2].version'*'pods are served at v1 only'* ]]
  [[ "$stderr" == *'policies[3] (pass-with-message): invalid value: approved by the platform team: spec.authorities[0].static.message'* ]]
}

# --- host limits ---
# Issue 16: policy-server interrupts the module after --policy-timeout (2 s by default) and,
# since 1.38, caps its memory (256 MiB by default); cip-runner does the same (README, "Runner
# limits"); kwctl run enforces neither, so the tests of the host's own answers skip with it.

# runner_only: skips unless KWCTL is the project's runner.
runner_only() {
  [[ "$(basename "$KWCTL")" == cip-runner ]] || skip "kwctl run enforces no execution-time limit or memory cap"
}

# host_timeout SECONDS: the runner's --policy-timeout flag (nothing for kwctl).
host_timeout() {
  [[ "$(basename "$KWCTL")" == cip-runner ]] && echo "--policy-timeout $1"
  true
}

BUDGET_ADVICE="raise requestBudgetMilliseconds, and policy-server's timeout with it (the ClusterAdmissionPolicy's timeoutEvalSeconds, or the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT; and hostPolicyTimeoutSeconds)"

@test "host limits: three slow CIPs use up the request budget and get the policy's message inside a 1 s host timeout" {
  # shellcheck disable=SC2046
  policy test_data/settings/budget-slow-cips.yaml test_data/requests/pod.json $(host_timeout 1)
  [ "$status" -eq 0 ]
  allowed false
  [ "$(jq -r '.status.code // "none"' <<<"$output")" = none ]
  [ "$(message)" = "validation failed: failed policy: slow-a: spec.containers[0].image"$'\n'"nginx failed evaluating rego policy for type ClusterImagePolicy: the request's policy budget (requestBudgetMilliseconds: 600) was used up while ClusterImagePolicy slow-a ran; $BUDGET_ADVICE"$'\n'"failed policy: slow-b: spec.containers[0].image"$'\n'"nginx the request's policy budget (requestBudgetMilliseconds: 600) was used up while ClusterImagePolicy slow-a ran, before this ClusterImagePolicy; $BUDGET_ADVICE"$'\n'"failed policy: slow-c: spec.containers[0].image"$'\n'"nginx the request's policy budget (requestBudgetMilliseconds: 600) was used up while ClusterImagePolicy slow-a ran, before this ClusterImagePolicy; $BUDGET_ADVICE" ]
}

@test "host limits: a request budget set past the host's real timeout gets the host's interruption message, code 500" {
  runner_only
  policy test_data/settings/budget-too-high.yaml test_data/requests/pod.json --policy-timeout 0.5
  [ "$status" -eq 0 ]
  allowed false
  [ "$(message)" = "Policy execution interrupted because it exceeded the allowed execution time" ]
  [ "$(jq -r '.status.code' <<<"$output")" = 500 ]
}

@test "host limits: a numbers.range sized by the input past the 256 MiB memory cap is the host's internal server error" {
  runner_only
  policy test_data/settings/memory-range.yaml test_data/requests/pod.json
  [ "$status" -eq 0 ]
  allowed false
  [ "$(jq -r '.status.code' <<<"$output")" = 500 ]
  [[ "$(message)" == "internal server error: Guest call failure: "* ]]
  [[ "$stderr" == *"memory allocation of 576000000 bytes failed"* ]]
}

@test "host limits: a request budget the declared host timeout cannot guarantee is a settings error naming policy-server's flag" {
  printf 'requestBudgetMilliseconds: 1500\n' >"$BATS_TEST_TMPDIR/settings.yaml"
  policy "$BATS_TEST_TMPDIR/settings.yaml" test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"Provided settings are not valid: invalid value: 1500: requestBudgetMilliseconds"$'\n'"the request budget must end before policy-server's timeout can interrupt the module: hostPolicyTimeoutSeconds is 2 (the ClusterAdmissionPolicy's timeoutEvalSeconds, else the PolicyServer's --policy-timeout / KUBEWARDEN_POLICY_TIMEOUT, 2 by default), and policy-server's clock ticks once a second, so it can interrupt a request after 1000 ms; write less than 1000, or raise timeoutEvalSeconds (or --policy-timeout) and hostPolicyTimeoutSeconds with it"* ]]
  printf 'requestBudgetMilliseconds: 1500\nhostPolicyTimeoutSeconds: 5\n' >"$BATS_TEST_TMPDIR/settings.yaml"
  policy "$BATS_TEST_TMPDIR/settings.yaml" "$(with_image test_data/requests/pod.json nginx)"
  [ "$status" -eq 0 ]
  [ "$(message)" = $'validation failed: no matching policies: spec.containers[0].image\nnginx' ]
}

# --- CUE policies ---
# Issue 15: CIP-level `type: cue` policies evaluated in the module, against the same input
# document as Rego (upstream: cosign pkg/policy/eval.go evaluateCue; README, "CUE policies").

CUE_FAILED="failed evaluating cue policy for ClusterImagePolicy: failed to evaluate the policy with error:"

@test "CUE: typemeta \"only Pods\" admits a Pod" {
  policy test_data/settings/cue-only-pods.yaml test_data/requests/pod.json
  allowed true
  [ "$(jq -r '.warnings' <<<"$output")" = "null" ]
}

@test "CUE: typemeta \"only Pods\" denies a Deployment with the cue error" {
  policy test_data/settings/cue-only-pods.yaml test_data/requests/deployment.json
  allowed false
  [ "$(message)" = "validation failed: failed policy: image-policy-typemeta-allow-only-pods: spec.template.spec.containers[0].image"$'\n'"nginx $CUE_FAILED typemeta.kind: conflicting values \"Deployment\" and \"Pod\"" ]
}

@test "CUE: metadata.labels admits the Pod labelled team=payments" {
  jq '.object.metadata.labels.team = "payments"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/p.json"
  policy test_data/settings/cue-labels.yaml "$BATS_TEST_TMPDIR/p.json"
  allowed true
}

@test "CUE: metadata.labels denies the Pod labelled team=ads" {
  jq '.object.metadata.labels.team = "ads"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/p.json"
  policy test_data/settings/cue-labels.yaml "$BATS_TEST_TMPDIR/p.json"
  allowed false
  [ "$(message)" = "validation failed: failed policy: team-payments: spec.containers[0].image"$'\n'"nginx $CUE_FAILED metadata.labels.team: conflicting values \"ads\" and \"payments\"" ]
}

@test "CUE: metadata.labels admits a Pod without the label, as upstream (Validate without Concrete)" {
  policy test_data/settings/cue-labels.yaml test_data/requests/pod.json
  allowed true
}

@test "CUE: spec.serviceAccount admits the default service account" {
  jq '.object.spec.serviceAccount = "default"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/p.json"
  policy test_data/settings/cue-service-account.yaml "$BATS_TEST_TMPDIR/p.json"
  allowed true
}

@test "CUE: spec.serviceAccount denies another service account" {
  jq '.object.spec.serviceAccount = "builder"' test_data/requests/pod.json >"$BATS_TEST_TMPDIR/p.json"
  policy test_data/settings/cue-service-account.yaml "$BATS_TEST_TMPDIR/p.json"
  allowed false
  [ "$(message)" = "validation failed: failed policy: image-policy-include-spec: spec.containers[0].image"$'\n'"nginx $CUE_FAILED spec.serviceAccount: conflicting values \"builder\" and \"default\"" ]
}

@test "CUE: the image config's User (recorded) admits an image running as 65532" {
  policy test_data/settings/cue-config-user.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay fetch-config-user-65532.yml)
  allowed true
}

@test "CUE: the image config's User (recorded) denies an image running as root" {
  policy test_data/settings/cue-config-user.yaml "$(with_image test_data/requests/pod.json $SIGNED)" $(replay fetch-config-single.yml)
  allowed false
  [ "$(message)" = "validation failed: failed policy: image-policy-config-file: spec.containers[0].image"$'\n'"$SIGNED $CUE_FAILED config.\"linux/amd64\".config.User: conflicting values \"\" and \"65532\"" ]
}

@test "CUE: invalid settings name the construct or the syntax error with line and column" {
  policy test_data/settings/invalid-cue.yaml test_data/requests/pod.json
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'policies[0] (cue-definition): invalid cue policy: spec.policy.data'*'1:1: definitions (#Pod) are not supported'* ]]
  [[ "$stderr" == *'policies[1] (cue-syntax): invalid cue policy: spec.policy.data'*"3:1: expected '}', found EOF"* ]]
}
