//! Globs and image references: the input is `<glob>\n<image>` (lossy UTF-8; no newline: the
//! whole input is both). `glob::translate`, `glob::image_matches`, `ImageRef::parse` and
//! `match_names` must not panic, and:
//! - a glob `translate` accepts compiles in `GlobMatcher::new` (and one it refuses does not);
//! - `image_matches` answers `Ok` exactly when the glob translates and the image parses, and
//!   then agrees with the matcher on the canonical names;
//! - a parsed reference keeps the image as written, its `name_as_written` is a prefix of it,
//!   and its canonical name is a fixed point: parsed again, it gives the same canonical names
//!   (every spelling of a reference is matched as one name, `src/reference` module docs);
//! - `GlobMatcher` (literal and prefix globs by string comparison, others by a lazily compiled
//!   globset regex) decides every name exactly as upstream's regex (`glob::upstream_regex`) does.
#![no_main]

use cluster_image_policy::glob::{self, GlobMatcher};
use cluster_image_policy::reference::ImageRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (glob_text, image) = text.split_once('\n').unwrap_or((&text, &text));

    let translated = glob::translate(glob_text);
    let matcher = GlobMatcher::new([(0, glob_text)]);
    match &translated {
        Ok(pattern) => assert!(
            matcher.is_ok(),
            "glob {glob_text:?} translates to {pattern:?} but does not compile: {:?}",
            matcher.as_ref().err()
        ),
        Err(_) => assert!(matcher.is_err(), "glob {glob_text:?} refused but compiled"),
    }

    let parsed = ImageRef::parse(image);
    let matched = glob::image_matches(glob_text, image, false);
    assert_eq!(
        matched.is_ok(),
        translated.is_ok() && parsed.is_ok(),
        "image_matches({glob_text:?}, {image:?}) = {matched:?}"
    );

    if let Ok(reference) = &parsed {
        assert_eq!(reference.raw(), image);
        let candidates = reference.glob_candidates();
        let canonical = reference.canonical(false);
        let again = ImageRef::parse(&canonical)
            .unwrap_or_else(|e| panic!("{image:?}: canonical {canonical:?} does not parse: {e}"));
        assert_eq!(again.glob_candidates(), candidates, "{image:?} via {canonical:?}");
        assert_eq!(again.canonical(false), canonical, "{image:?}");
        assert!(
            image.starts_with(reference.name_as_written()),
            "{image:?}: name_as_written {:?}",
            reference.name_as_written()
        );
        let _ = reference.repository_name();
        let _ = (reference.tag(), reference.digest(), reference.tag_written());
        let _ = (reference.match_names(true), reference.canonical(true), reference.tag_as_written());
        if let Some(digest) = reference.digest() {
            assert!(
                image.contains('@'),
                "{image:?}: digest {digest:?} without '@'"
            );
        }
        if let (Ok(m), Ok(result)) = (&matcher, &matched) {
            assert_eq!(*result, !m.matching_owners(&candidates).is_empty());
        }
    }

    // The matcher against upstream's own regex for the glob (names never hold a newline).
    if let (Ok(pattern), Ok(m)) = (glob::upstream_regex(glob_text), &matcher) {
        let upstream = regex::Regex::new(&pattern).expect("upstream's pattern compiles");
        let mut names: Vec<String> = vec![image.to_string(), glob_text.to_string()];
        if let Ok(reference) = &parsed {
            names.extend(reference.glob_candidates());
        }
        for name in names.iter().filter(|n| !n.contains('\n')) {
            assert_eq!(
                !m.matching_owners(std::slice::from_ref(name)).is_empty(),
                upstream.is_match(name),
                "glob {glob_text:?} ({pattern:?}) on {name:?}"
            );
        }
    }

    // The image itself as a glob, and both in one matcher.
    let _ = glob::matches(glob_text, image);
    let _ = glob::matches(image, glob_text);
    let _ = GlobMatcher::new([(0, glob_text), (1, image), (2, "**")]);
});
