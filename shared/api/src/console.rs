//! `/console`: the operator's and team's web page, served from the binary itself. The page
//! is plain HTML, CSS and JavaScript modules kept in `shared/api/console/` and embedded with
//! `include_str!`, so `serve` needs no build step and no files beside it.
//!
//! The page and its assets are served without a key: they are the same for everyone and hold
//! no data. Everything the page shows comes from the API, with the key the user types into
//! it, so no data is served without a key. Every answer here carries a strict
//! Content-Security-Policy (scripts, styles and connections from this origin only; no inline
//! script or style; no framing), `nosniff` and no referrer.

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The policy of the page and of every asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

const INDEX: &str = include_str!("../console/index.html");

/// The assets by name, with their media type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("../console/console.css")),
    ("main.js", "text/javascript; charset=utf-8", include_str!("../console/main.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../console/api.js")),
    ("stream.js", "text/javascript; charset=utf-8", include_str!("../console/stream.js")),
    ("flow.js", "text/javascript; charset=utf-8", include_str!("../console/flow.js")),
    ("dead-letters.js", "text/javascript; charset=utf-8", include_str!("../console/dead-letters.js")),
    ("replay.js", "text/javascript; charset=utf-8", include_str!("../console/replay.js")),
    ("tasks.js", "text/javascript; charset=utf-8", include_str!("../console/tasks.js")),
    ("metrics.js", "text/javascript; charset=utf-8", include_str!("../console/metrics.js")),
];

/// The headers every console answer carries.
fn guarded(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        // A new binary may bring new assets: the browser asks again each time (cheaply,
        // they are small) rather than mixing versions.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ];
    (headers, body).into_response()
}

pub async fn page() -> Response {
    guarded("text/html; charset=utf-8", INDEX)
}

pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, content_type, body)| guarded(content_type, body))
        .ok_or_else(|| ApiError::not_found("the console asset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSP forbids inline script and style; the page must not need any.
    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let lower = INDEX.to_ascii_lowercase();
        for script in lower.split("<script").skip(1) {
            let (tag, rest) = script.split_once('>').unwrap_or((script, ""));
            assert!(tag.contains("src="), "a script without src: <script{tag}>");
            assert!(rest.trim_start().starts_with("</script>"), "a script with a body");
        }
        assert!(!lower.contains("<style"), "an inline style sheet");
        assert!(!lower.contains(" style="), "an inline style attribute");
        assert!(!lower.contains(" onclick=") && !lower.contains(" onload=") && !lower.contains(" onsubmit="));
        assert!(!lower.contains("javascript:"));
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        for (_, _, body) in ASSETS {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(start) = line.find("\"./") else { continue };
                let name = &line[start + 3..];
                let name = &name[..name.find('"').unwrap_or(name.len())];
                assert!(ASSETS.iter().any(|(n, _, _)| *n == name), "{name} is imported but not served");
            }
        }
    }
}
