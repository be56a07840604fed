//! The README's CRD reference lists exactly the fields the schema has.

use std::collections::BTreeSet;

fn readme_fields(readme: &str, kind: &str) -> BTreeSet<String> {
    let start = readme
        .find(&format!("### {kind} ("))
        .unwrap_or_else(|| panic!("README has no section for {kind}"));
    readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("### ") && !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(String::from)
        .collect()
}

fn schema_fields(kind: &str) -> BTreeSet<String> {
    let crd = runwisp_operator::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("CRD");
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| s.properties.as_ref())
        .and_then(|p| p.get("spec"))
        .and_then(|s| s.properties.as_ref())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn the_readme_field_reference_matches_every_crd_schema() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for kind in ["RunWispTask", "RunWispRun", "RunWispNotifier"] {
        assert_eq!(
            readme_fields(&readme, kind),
            schema_fields(kind),
            "README reference for {kind}"
        );
    }
}
