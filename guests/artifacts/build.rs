//! Builds every guest in `guests/` for `wasm32-wasip2` (installing the target
//! with rustup if it is missing), then emits one `const` per guest holding
//! the path of its component, and a `foreach_guest!` macro listing them all.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let guests_dir = manifest_dir.parent().unwrap().to_path_buf();
    let root = guests_dir.parent().unwrap().to_path_buf();
    for path in watched(&guests_dir, &root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    ensure_target();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-guests");

    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(guests_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // A plain build: no wrapper or flags meant for the host crates.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the guests");
    assert!(status.success(), "building the guests failed");

    let out = target_dir.join(TARGET).join("release");
    let mut consts = String::new();
    let mut names = Vec::new();
    for name in guest_names(&guests_dir) {
        // A library component's file is named after its crate's lib name.
        let file = if guests_dir.join(&name).join("src/main.rs").exists() {
            name.clone()
        } else {
            name.replace('-', "_")
        };
        let wasm = out.join(format!("{file}.wasm"));
        assert!(wasm.exists(), "missing {}", wasm.display());
        let ident = name.to_uppercase().replace('-', "_");
        let path = wasm.display().to_string();
        consts.push_str(&format!(
            "/// Path of the `{name}` guest component.\npub const {ident}: &str = {path:?};\n\
             /// The `{name}` guest component's bytes.\npub static {ident}_WASM: &[u8] = include_bytes!({path:?});\n"
        ));
        names.push(ident);
    }
    consts.push_str(&format!(
        "/// Calls `$mac!(NAME)` once for every guest.\n#[macro_export]\nmacro_rules! foreach_guest {{\n    ($mac:ident) => {{\n{}    }};\n}}\n",
        names
            .iter()
            .map(|n| format!("        $mac!({n});\n"))
            .collect::<String>()
    ));
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap()).join("guests.rs");
    fs::write(dest, consts).unwrap();
}

/// What the guests are built from: their manifests, lock file and sources,
/// the SDK's, and the WIT. Not `guests/` as a whole, which holds the
/// `target/` of the guests' own unit tests: watching it made every test run
/// rebuild and relink the host.
fn watched(guests_dir: &Path, root: &Path) -> Vec<PathBuf> {
    let mut paths = vec![
        guests_dir.join("Cargo.toml"),
        guests_dir.join("Cargo.lock"),
        root.join("guest-sdk/Cargo.toml"),
        root.join("guest-sdk/src"),
        root.join("wit"),
    ];
    for entry in fs::read_dir(guests_dir).unwrap().filter_map(|e| e.ok()) {
        let dir = entry.path();
        if dir.join("Cargo.toml").exists() && dir.file_name().is_some_and(|n| n != "target") {
            paths.push(dir.join("Cargo.toml"));
            paths.push(dir.join("src"));
        }
    }
    paths
}

/// Every directory of `guests/` holding a component: a program
/// (`src/main.rs`, a `wasi:cli` command) or a `cdylib` library (a
/// `wasi:http/proxy` component, say).
fn guest_names(guests_dir: &Path) -> Vec<String> {
    let is_component = |dir: &Path| {
        dir.join("src/main.rs").exists()
            || fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("\"cdylib\""))
    };
    let mut names: Vec<String> = fs::read_dir(guests_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| is_component(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Installs the wasm target for the toolchain in use when it is missing
/// (a fresh machine has `RUSTUP_AUTO_INSTALL=0`).
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_some_and(|d| d.exists()) {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .expect("run rustup to install the wasm32-wasip2 target");
    assert!(status.success(), "`rustup target add {TARGET}` failed");
}
