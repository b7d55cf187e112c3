//! The documentation's links: every relative link in README.md and docs/ names a file that
//! exists, and an anchor names a heading of that page.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn pages() -> Vec<PathBuf> {
    let mut out = vec![Path::new(ROOT).join("README.md")];
    let mut dirs = vec![Path::new(ROOT).join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of `[text](target)` links outside code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = match file {
                "" => page.clone(),
                f => page.parent().unwrap().join(f),
            };
            checked += 1;
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let linked = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&linked).iter().any(|a| a == fragment) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 15, "only {checked} links checked");
}

#[test]
fn the_readme_is_short_and_the_docs_speak_of_the_product_not_its_history() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    assert!(readme.lines().count() <= 200, "README.md has {} lines", readme.lines().count());
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap().to_lowercase();
        for diary in ["session 1", "session 2", "session 9", "earlier sessions", "session 12"] {
            assert!(!text.contains(diary), "{} speaks of {diary:?}", page.display());
        }
    }
}

/// What the binary prints for `args`.
fn generated(args: &[&str]) -> String {
    let out = std::process::Command::new(crate::harness::BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The part of docs/`page` between the line holding `begin` and the one starting `end`.
fn section(page: &str, begin: &str, end: &str) -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs").join(page)).unwrap();
    let at = text.find(begin).expect("the start marker");
    let from = at + text[at..].find('\n').unwrap() + 1;
    let to = from + text[from..].find(end).expect("the end marker");
    text[from..to].to_owned()
}

/// The settings table in docs/operating.md is the one the binary generates from `settings!`.
#[test]
fn the_settings_table_is_generated_from_the_settings() {
    assert_eq!(
        section("operating.md", "<!-- settings:", "<!-- end of settings -->"),
        generated(&["config", "example", "--markdown"]),
        "docs/operating.md's settings drifted: paste `whoot-mgmt config example --markdown`"
    );
}

/// The scaling guide shows the HAProxy configuration the tenant move test runs.
#[test]
fn the_scaling_guide_shows_the_haproxy_configuration_the_test_runs() {
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("packaging/haproxy/whoot.cfg")).unwrap();
    let shown = section("scaling-out.md", "<!-- haproxy:", "<!-- end of haproxy -->");
    assert_eq!(shown, format!("```\n{shipped}```\n"), "paste packaging/haproxy/whoot.cfg");
}

/// The walkthrough on the Getting started page is docs/walkthrough.sh, which `.ci/run` runs.
#[test]
fn the_walkthrough_page_shows_the_script_ci_runs() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/getting-started.md")).unwrap();
    let script = std::fs::read_to_string(Path::new(ROOT).join("docs/walkthrough.sh")).unwrap();
    let from = page.find("```bash\n").expect("the script's block") + "```bash\n".len();
    let to = from + page[from..].find("```").unwrap();
    assert_eq!(&page[from..to], script, "paste docs/walkthrough.sh into docs/getting-started.md");
}

/// docs/endpoints.md is the endpoint table as the binary generates it.
#[test]
fn the_endpoint_reference_is_generated_from_the_table() {
    let table = generated(&["openapi", "--markdown"]);
    assert!(table.contains("| POST | `/scim/v2/Users` | `scim:users:write` |"), "{table}");
    assert_eq!(
        section("endpoints.md", "<!-- endpoints:", "<!-- end of endpoints -->"),
        table,
        "docs/endpoints.md drifted from the endpoint table: paste `whoot-mgmt openapi --markdown`"
    );
}
