//! A real browser against `wasm-sendfile serve`: headless Chromium loads a
//! page with an image and a `<video>`; the image must decode (its
//! `naturalWidth`), the page must render (a screenshot), and the video's
//! media requests must be answered as ranges (206).

mod common;

use common::Server;
use std::path::Path;
use std::process::Command;

const PAGE: &str = r#"<!doctype html>
<html><head><title>wasm-sendfile</title></head>
<body style="background:#fff">
<h1>served by a guest</h1>
<img id="pic" src="pic.png" width="256" height="192">
<video id="clip" src="clip.webm" preload="auto" muted></video>
<pre id="out">pending</pre>
<script>
window.addEventListener("load", () => {
  const img = document.getElementById("pic");
  document.getElementById("out").textContent =
    "naturalWidth=" + img.naturalWidth + " naturalHeight=" + img.naturalHeight;
});
</script>
</body></html>
"#;

/// A 64x48 RGB gradient, encoded by the `png` crate.
fn write_png(path: &Path) {
    let (w, h) = (64u32, 48u32);
    let data: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, 160]))
        .collect();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium is installed (tests/run installs it)")
}

#[test]
fn headless_chromium_renders_the_page_and_streams_the_video_by_ranges() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), PAGE).unwrap();
    write_png(&site.path().join("pic.png"));
    // The media loader asks for ranges whatever the bytes hold.
    let clip: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(site.path().join("clip.webm"), clip).unwrap();

    let server = Server::start(site.path(), &[]);
    let url = server.url("/");
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom", &url], profile.path());
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains("naturalWidth=64 naturalHeight=48"),
        "image not decoded: {dom_text}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );

    let shot = site.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=800,600",
            &url,
        ],
        profile.path(),
    );
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (800, 600));
    if let Ok(keep) = std::env::var("WASM_SENDFILE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    let lines = server.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"GET /pic.png HTTP/1.1\" 200")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"GET /clip.webm HTTP/1.1\" 206")),
        "the video was not fetched by ranges: {lines:?}"
    );
}

/// A directory named without its trailing slash (`/docs`) is redirected to
/// `/docs/`, so the page's relative links resolve inside it: Chromium must
/// decode the image next to the index (issue 10, finding 10).
#[test]
fn headless_chromium_follows_the_directory_redirect() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("docs")).unwrap();
    let page = PAGE.replace(
        "<video id=\"clip\" src=\"clip.webm\" preload=\"auto\" muted></video>",
        "",
    );
    std::fs::write(site.path().join("docs/index.html"), page).unwrap();
    write_png(&site.path().join("docs/pic.png"));

    let server = Server::start(site.path(), &[]);
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&["--dump-dom", &server.url("/docs")], profile.path());
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains("naturalWidth=64 naturalHeight=48"),
        "image not decoded: {dom_text}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let lines = server.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"GET /docs HTTP/1.1\" 301")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"GET /docs/pic.png HTTP/1.1\" 200")),
        "{lines:?}"
    );
}
