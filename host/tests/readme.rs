//! The README shows code that is compiled elsewhere verbatim.

/// The embedding example (`host/examples/embed.rs`, built with the tests)
/// appears in the README as it is.
#[test]
fn the_readme_shows_the_embedding_example_verbatim() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/embed.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```\n")),
        "README.md's embedding section differs from host/examples/embed.rs: copy it again"
    );
}

/// The guest example (`guests/hello-sendfile`) appears in the README as it
/// is, and does what it says: one response per connection, the file once.
#[test]
fn the_readme_guest_is_verbatim_and_serves_the_file_once() {
    use std::io::{BufRead, Read, Write};
    let readme = include_str!("../../README.md");
    let example = include_str!("../../guests/hello-sendfile/src/main.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```\n")),
        "README.md's guest section differs from guests/hello-sendfile: copy it again"
    );
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.path().join("index.html"), &body).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut guest = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(["run", wasm_sendfile_artifacts::HELLO_SENDFILE, "--dir-ro"])
        .arg(format!("{}::/public", dir.path().display()))
        .args([
            "--allow-bind",
            &addr,
            "--",
            "/public/index.html",
            &addr,
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..2 {
        let mut conn = loop {
            match std::net::TcpStream::connect(&addr) {
                Ok(conn) => break conn,
                Err(_) if start.elapsed() < std::time::Duration::from_secs(60) => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("the guest does not listen: {e}"),
            }
        };
        conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        assert!(got.starts_with(head.as_bytes()));
        assert!(got[head.len()..] == body[..], "the body is the file, once");
    }
    let status = guest.wait().unwrap();
    assert!(status.success());
    let lines: Vec<String> = std::io::BufReader::new(guest.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("sent ") && lines[0].ends_with(" (300000 of the file)"));
}
