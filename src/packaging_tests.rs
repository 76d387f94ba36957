//! Consistency of the packaging files (metadata.yml, artifacthub-pkg.yml, examples, release
//! workflow) with the code.
