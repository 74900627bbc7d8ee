//! Links the native module with the code that runs at start-up laid out together, and strips
//! its symbols.
//!
//! The functions a server runs from `require` to listening, and then for its first
//! connections, are scattered over the library's 4.6 MB of code; each page they touch brings
//! its neighbourhood in with it (the kernel maps a file's pages around a fault, and large page
//! cache folios whole), so an idle server held 3.3 MiB of this library's code. Listed first
//! (`linker/symbol-order.txt`, made by `npm run bench:symbol-order` from callgrind's record of
//! what ran), they take 0.8 MiB.
//!
//! The list names functions as the linker sees them, and Rust's symbol names carry a hash of
//! the build's profile, `strip` included. So the release profile keeps its symbols and this
//! script strips them at link time instead: the unstripped build the list is made from
//! (`RHTTPS_KEEP_SYMBOLS=1`) names every function as the shipped one does.

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER_FILE: &str = "linker/symbol-order.txt";

fn main() {
    napi_build::setup();
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-env-changed=RHTTPS_KEEP_SYMBOLS");
    println!("cargo:rerun-if-env-changed=RHTTPS_NO_SYMBOL_ORDER");
    // A debug build keeps its symbols for backtraces and debuggers; only what ships is laid out.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || env::var("PROFILE").as_deref() != Ok("release")
    {
        return;
    }
    if env::var_os("RHTTPS_KEEP_SYMBOLS").is_none() {
        println!("cargo:rustc-link-arg-cdylib=-Wl,--strip-all");
    }
    if env::var_os("RHTTPS_NO_SYMBOL_ORDER").is_none() && links_with_lld() {
        let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(ORDER_FILE);
        if order.is_file() {
            println!(
                "cargo:rustc-link-arg-cdylib=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            // Functions renamed or gone since the list was made are skipped, not errors.
            println!("cargo:rustc-link-arg-cdylib=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether rustc links this target with its own LLD, the one linker here that takes a symbol
/// ordering file: the default for x86_64-unknown-linux-gnu since Rust 1.90, unless the build
/// names another linker.
fn links_with_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let overridden = ["linker", "link-self-contained", "linker-flavor"]
        .iter()
        .any(|option| flags.contains(option));
    if overridden || env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the rustc building this crate (1.x).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("--version").output().ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    let mut parts = version.split_whitespace().nth(1)?.split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}
