//! `cip-runner request MANIFEST`: the AdmissionRequest the API server would send for creating
//! the object of a Kubernetes manifest, for `run --request-path` (and `kwctl run`), so that
//! your own Pods and Deployments can be checked offline:
//!
//! ```text
//! cip-runner request deployment.yaml > request.json
//! cip-runner run --request-path request.json --settings-path settings.yaml annotated-policy.wasm
//! ```
//!
//! The manifest is YAML or JSON (`-`: stdin), one object, or several documents or a `List` with
//! `--object KIND/NAME` choosing one. The request is a `CREATE` of that object as written:
//!
//! ```json
//! {"uid": "request-from-manifest", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
//!  "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
//!  "name": "web", "namespace": "default", "operation": "CREATE",
//!  "userInfo": {"username": "cip-runner", "groups": ["system:authenticated"]},
//!  "object": {…}, "oldObject": null, "dryRun": false}
//! ```
//!
//! `kind` comes from the object's `apiVersion` (`group/version`, or `version` for the core
//! group) and `kind`; `resource` is the plural Kubernetes guesses from the kind
//! (k8s.io/apimachinery `pkg/api/meta/restmapper.go` L129-151, `UnsafeGuessKindToResource`:
//! lower case, `s` → `ses`, `y` → `ies`, else `+s`), which is the real resource of every kind
//! the policy checks; `namespace` is `--namespace`, else the object's `metadata.namespace`,
//! else `default`. The object itself is not changed (no defaults are filled in, as an API
//! server would): the policy reads only its images, labels and, for Rego, what the CIP includes.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

/// Arguments of `request`.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The object to pick when the manifest holds several: `KIND/NAME` (`Deployment/web`).
    #[arg(long, value_name = "KIND/NAME")]
    pub object: Option<String>,
    /// The request's namespace (default: the object's metadata.namespace, else `default`).
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The manifest (YAML or JSON; `-` reads stdin).
    #[arg(value_name = "MANIFEST")]
    pub manifest: String,
}

/// `cip-runner request`: prints the AdmissionRequest as pretty JSON on stdout.
///
/// # Errors
/// As [`admission_request`]; the manifest cannot be read.
pub fn run(args: &RequestArgs) -> Result<()> {
    let (name, text) = if args.manifest == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(&args.manifest)
            .with_context(|| format!("cannot read {}", args.manifest))?;
        (args.manifest.clone(), text)
    };
    let request = admission_request(
        &name,
        &text,
        args.object.as_deref(),
        args.namespace.as_deref(),
    )?;
    println!("{}", serde_json::to_string_pretty(&request)?);
    Ok(())
}

/// The objects of a manifest: every non-empty document, the `items` of a `List`.
///
/// # Errors
/// `cannot parse <name>, document <n>: <YAML error>`; a document that is not a mapping.
fn objects(name: &str, text: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for (n, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        // The first error ends the stream (libyaml keeps failing): stop there.
        let value = Value::deserialize(document)
            .map_err(|e| anyhow!("cannot parse {name}, document {}: {e}", n + 1))?;
        match value {
            Value::Null => {}
            Value::Object(map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                match map.get("items") {
                    Some(Value::Array(items)) => objects.extend(items.iter().cloned()),
                    _ => bail!("{name}, document {}: a List without items", n + 1),
                }
            }
            object @ Value::Object(_) => objects.push(object),
            _ => bail!("{name}, document {}: not a Kubernetes object", n + 1),
        }
    }
    Ok(objects)
}

/// `KIND/NAME` of an object (`?` for what is missing).
fn kind_name(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The plural resource Kubernetes guesses for `kind` (apimachinery's
/// `UnsafeGuessKindToResource`, see the module documentation).
pub fn guess_resource(kind: &str) -> String {
    let singular = kind.to_lowercase();
    if singular.ends_with("endpoints") {
        singular
    } else if singular.ends_with('s') {
        singular + "es"
    } else if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        singular + "s"
    }
}

/// The AdmissionRequest for creating the object of `text` (a manifest named `name` in
/// messages); `object` is `--object`, `namespace` `--namespace`.
///
/// # Errors
/// A manifest that does not parse; no object, several without `--object`, none that matches
/// it (the messages list the objects found); an object without `apiVersion` or `kind`.
pub fn admission_request(
    name: &str,
    text: &str,
    object: Option<&str>,
    namespace: Option<&str>,
) -> Result<Value> {
    let mut objects = objects(name, text)?;
    let found = || objects.iter().map(kind_name).collect::<Vec<_>>().join(", ");
    let index = match object {
        Some(wanted) => objects
            .iter()
            .position(|o| kind_name(o).eq_ignore_ascii_case(wanted))
            .ok_or_else(|| anyhow!("{name} holds no {wanted} (it holds {})", found()))?,
        None => match objects.len() {
            0 => bail!("{name} holds no Kubernetes object"),
            1 => 0,
            n => bail!(
                "{name} holds {n} objects ({}): choose one with --object KIND/NAME",
                found()
            ),
        },
    };
    let object = objects.swap_remove(index);
    let api_version = object["apiVersion"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("{} has no apiVersion", kind_name(&object)))?;
    let kind = object["kind"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow!("{} has no kind", kind_name(&object)))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let namespace = namespace
        .or_else(|| object["metadata"]["namespace"].as_str())
        .unwrap_or("default");
    let mut request = json!({
        "uid": "request-from-manifest",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": guess_resource(kind)},
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "cip-runner", "groups": ["system:authenticated"]},
    });
    if let Some(object_name) = object["metadata"]["name"].as_str() {
        request["name"] = object_name.into();
    }
    request["object"] = object;
    request["oldObject"] = Value::Null;
    request["dryRun"] = false.into();
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_as_kubernetes_guesses_them() {
        for (kind, resource) in [
            ("Pod", "pods"),
            ("Deployment", "deployments"),
            ("ReplicaSet", "replicasets"),
            ("StatefulSet", "statefulsets"),
            ("DaemonSet", "daemonsets"),
            ("ReplicationController", "replicationcontrollers"),
            ("Job", "jobs"),
            ("CronJob", "cronjobs"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Endpoints", "endpoints"),
        ] {
            assert_eq!(guess_resource(kind), resource);
        }
    }

    #[test]
    fn a_deployment_manifest_becomes_a_create_request() {
        let request = admission_request(
            "d.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: nginx}]\n",
            None,
            None,
        )
        .expect("request");
        assert_eq!(
            request,
            json!({
                "uid": "request-from-manifest",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "name": "web",
                "namespace": "shop",
                "operation": "CREATE",
                "userInfo": {"username": "cip-runner", "groups": ["system:authenticated"]},
                "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                           "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                "oldObject": null,
                "dryRun": false
            })
        );
        let pod = admission_request(
            "p.json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"x-"}}"#,
            None,
            Some("ns"),
        )
        .expect("request");
        assert_eq!(
            pod["kind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(pod["namespace"], "ns");
        assert_eq!(pod.get("name"), None);
    }

    #[test]
    fn several_objects_need_object() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\nkind: List\nitems:\n- {apiVersion: batch/v1, kind: Job, metadata: {name: once}}\n";
        let e = admission_request("all.yaml", text, None, None).expect_err("several");
        assert_eq!(
            e.to_string(),
            "all.yaml holds 3 objects (Service/web, Deployment/web, Job/once): choose one with --object KIND/NAME"
        );
        let job = admission_request("all.yaml", text, Some("job/once"), None).expect("job");
        assert_eq!(job["resource"]["resource"], "jobs");
        let e = admission_request("all.yaml", text, Some("Pod/web"), None).expect_err("none");
        assert_eq!(
            e.to_string(),
            "all.yaml holds no Pod/web (it holds Service/web, Deployment/web, Job/once)"
        );
        for (text, message) in [
            ("", "e.yaml holds no Kubernetes object"),
            (
                "kind: Pod\nmetadata: {name: p}\n",
                "Pod/p has no apiVersion",
            ),
            ("[1]\n", "e.yaml, document 1: not a Kubernetes object"),
            (
                "a: [\n",
                "cannot parse e.yaml, document 1: did not find expected node content at line 2 column 1, while parsing a flow node",
            ),
        ] {
            assert_eq!(
                admission_request("e.yaml", text, None, None)
                    .expect_err(text)
                    .to_string(),
                message
            );
        }
    }
}
