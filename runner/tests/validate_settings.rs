//! `cip-runner validate-settings` on the real annotated module, as a CI job would run it: exit
//! 0 with the guest's answer for valid settings, exit 1 with kwctl's message for invalid ones.

mod common;

use common::{annotated_policy, cip_runner, workspace_root};

fn validate(settings: &str) -> common::Run {
    let path = workspace_root().join(settings);
    cip_runner(
        &[
            "validate-settings",
            "--settings-path",
            path.to_str().expect("utf8"),
            annotated_policy().to_str().expect("utf8"),
        ],
        None,
    )
}

#[test]
fn valid_settings_exit_0_with_the_answer() {
    let run = validate("test_data/settings/seed-step3.yaml");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "{\"valid\":true,\"message\":null}\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn invalid_settings_exit_1_with_every_error() {
    let run = validate("test_data/settings/invalid-many.yaml");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Error: Provided settings are not valid: policies[0] (broken): invalid value: $FOO*: spec.images[0].glob\n\
         glob is invalid: invalid glob \"$FOO*\"\n\
         policies[0] (broken): invalid value: garbage: spec.mode\n\
         unsupported mode\n\
         policies[0] (broken): invalid value: maybe: spec.authorities[0].static.action\n\
         unsupported action\n\
         policies[1] (broken): invalid value: ImagePolicy: kind\n\
         expected ClusterImagePolicy\n\
         policies[1] (broken): expected exactly one, got neither: spec.authorities[0].key, spec.authorities[0].keyless, spec.authorities[0].static\n\
         policies[1] (broken): invalid value: broken: metadata.name\n\
         duplicate name: policies[0] has the same name\n"
    );
}

/// A ClusterImagePolicy manifest given as the settings file, as a new user would.
#[test]
fn a_bare_cluster_image_policy_says_to_put_it_under_policies() {
    let run = validate("test_data/cips/chainguard-image-policy.yaml");
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "Error: Provided settings are not valid: the settings are a ClusterImagePolicy manifest (ClusterImagePolicy chainguard-image-policy), not the policy's settings: the settings are a mapping with the ClusterImagePolicies in a list under `policies:`; indent the manifest under it:\n\
         policies:\n\
         \x20 - apiVersion: policy.sigstore.dev/v1beta1\n\
         \x20   kind: ClusterImagePolicy\n\
         \x20   …\n"
    );
}
