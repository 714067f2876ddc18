//! The functions' zips: built with cargo-lambda from the runtime crate, or taken prebuilt from
//! `--artifacts DIR`, then named by content hash so an unchanged zip is never uploaded twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The instruction set the functions are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    /// The value of the template's `FunctionArchitecture` parameter.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Arch::Arm64 => "--arm64",
            Arch::X86_64 => "--x86-64",
        }
    }
}

/// One zip ready to upload.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub bin: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Artifact {
    fn read(bin: &str, path: &Path) -> Result<Artifact> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::bad_input(format!("cannot read {}: {e}", path.display())))?;
        if !bytes.starts_with(b"PK") {
            return Err(Error::bad_input(format!("{} is not a zip file", path.display())));
        }
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        Ok(Artifact { bin: bin.to_string(), path: path.to_path_buf(), bytes, sha256 })
    }

    /// The S3 key: content-addressed, so a changed zip gets a new key (and CloudFormation
    /// sees a changed `S3Key`), an unchanged one the same key.
    pub fn key(&self) -> String {
        format!("artifacts/{}/{}.zip", self.bin, self.sha256)
    }

    /// The SHA-256 as S3's checksum header carries it (base64 of the digest).
    pub fn checksum(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&self.bytes))
    }
}

/// Zips in `dir`, for each bin either `DIR/BIN/bootstrap.zip` (cargo-lambda's layout) or
/// `DIR/BIN.zip`.
pub fn prebuilt(dir: &Path, bins: &[String]) -> Result<Vec<Artifact>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for bin in bins {
        let candidates = [dir.join(bin).join("bootstrap.zip"), dir.join(format!("{bin}.zip"))];
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => out.push(Artifact::read(bin, p)?),
            None => missing.push(format!("{} (or {})", candidates[0].display(), candidates[1].display())),
        }
    }
    if !missing.is_empty() {
        return Err(Error::bad_input(format!(
            "--artifacts {}: no zip for {}\n  hint: build them with `cargo lambda build --release --arm64 --output-format zip -p opslake-runtime` and pass --artifacts target/lambda",
            dir.display(),
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// The checkout whose `runtime` crate is built: `OPSLAKE_SOURCE_DIR`, else the workspace this
/// binary was built from.
pub fn source_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("OPSLAKE_SOURCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    if dir.join("runtime").join("Cargo.toml").is_file() {
        Ok(dir)
    } else {
        Err(Error::bad_input(format!(
            "the runtime's sources are not at {} (set OPSLAKE_SOURCE_DIR to an opslake checkout)",
            dir.display()
        ))
        .hint("or build the zips in a checkout (`scripts/build-functions`) and pass --artifacts target/lambda/arm64"))
    }
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// Checks what a cargo-lambda build needs, with the install command for whatever is missing.
pub fn check_toolchain(arch: Arch) -> Result<()> {
    if !succeeds(Command::new("cargo").args(["lambda", "--version"])) {
        return Err(Error::bad_input("cargo-lambda is not installed (deploy builds the functions with it)").hint(
            "`pip install cargo-lambda` (it brings zig) and put its bin directory on PATH, or pass --artifacts DIR with prebuilt zips",
        ));
    }
    let zig = succeeds(Command::new("zig").arg("version"))
        || succeeds(Command::new("python3").args(["-m", "ziglang", "version"]));
    if !zig {
        return Err(Error::bad_input("zig is not installed (cargo-lambda links the functions with it)").hint(
            "`pip install cargo-lambda` installs zig as the `ziglang` package; run deploy with that environment's bin directory on PATH",
        ));
    }
    let target = arch.rust_target();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == target))
        .unwrap_or(false);
    if !installed {
        return Err(Error::bad_input(format!("the Rust target {target} is not installed"))
            .hint(format!("`rustup target add {target}`")));
    }
    Ok(())
}

/// The Cargo profile the functions are built with (`Cargo.toml`: stripped, LTO, one codegen
/// unit).
pub const PROFILE: &str = "lambda";

/// The cargo-lambda build of one function: its own features (`fn-BIN`: only the AWS clients it
/// calls), the Lambda profile, a zip.
pub fn build_command(source: &Path, bin: &str, arch: Arch, lambda_dir: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(source)
        .args(["lambda", "build", "--profile", PROFILE, arch.cargo_lambda_flag(), "--output-format", "zip"])
        .args(["-p", "opslake-runtime", "--bin", bin, "--no-default-features", "--features"])
        .arg(format!("fn-{bin}"))
        .arg("--lambda-dir")
        .arg(lambda_dir);
    cmd
}

/// Builds `bins` of the runtime crate with cargo-lambda and returns the zips.
pub fn build(source: &Path, bins: &[String], arch: Arch) -> Result<Vec<Artifact>> {
    check_toolchain(arch)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| source.join("target"));
    let lambda_dir = target_dir.join("lambda").join(arch.lambda_name());
    for bin in bins {
        let mut cmd = build_command(source, bin, arch, &lambda_dir);
        // The build's own progress goes to the terminal; stdout stays clean for `--format json`.
        cmd.stdin(Stdio::null()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
        let status = cmd.status().map_err(|e| Error::failed(format!("cannot run cargo lambda build: {e}")))?;
        if !status.success() {
            return Err(Error::failed(format!("cargo lambda build of {bin} failed ({status}); its output is above")));
        }
    }
    prebuilt(&lambda_dir, bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prebuilt_finds_both_layouts_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("query")).unwrap();
        std::fs::write(dir.path().join("query/bootstrap.zip"), b"PK\x05\x06 query").unwrap();
        std::fs::write(dir.path().join("leftovers.zip"), b"PK\x05\x06 leftovers").unwrap();
        let bins = vec!["query".to_string(), "leftovers".to_string()];
        let found = prebuilt(dir.path(), &bins).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].key().starts_with("artifacts/query/") && found[0].key().ends_with(".zip"));
        assert_ne!(found[0].sha256, found[1].sha256);
        let err = prebuilt(dir.path(), &["change-summary".to_string()]).unwrap_err();
        assert!(err.to_string().contains("change-summary/bootstrap.zip"), "{err}");
        std::fs::write(dir.path().join("bad.zip"), b"not a zip").unwrap();
        let err = prebuilt(dir.path(), &["bad".to_string()]).unwrap_err();
        assert!(err.to_string().contains("not a zip"), "{err}");
    }
}
