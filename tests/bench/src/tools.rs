//! The outside programs the benchmark drives (wrk, nginx): found, or
//! installed from Debian's packages, or reported missing with the reason.

use std::process::{Command, Stdio};

/// Whether `program` runs (`program ARG` exits, whatever its status).
fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Makes `program` available, installing Debian's `package` if need be.
/// `Err` says why it is not there.
pub fn ensure(program: &str, version_arg: &str, package: &str) -> Result<(), String> {
    if runs(program, version_arg) {
        return Ok(());
    }
    eprintln!("bench: {program} missing; installing Debian's {package}");
    let install = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let installed = install(&["install", "-y", "-q", package])
        || (install(&["update", "-q"]) && install(&["install", "-y", "-q", package]));
    if installed && runs(program, version_arg) {
        Ok(())
    } else {
        Err(format!(
            "{program} is not installed and `apt-get install {package}` failed"
        ))
    }
}

/// The first line a program prints about its version (on either stream).
pub fn version(program: &str, arg: &str) -> String {
    let Ok(out) = Command::new(program).arg(arg).output() else {
        return format!("{program}: not found");
    };
    let text = [out.stdout, out.stderr].concat();
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}
