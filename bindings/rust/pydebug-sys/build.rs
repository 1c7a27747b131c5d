//! Finds libpydebug with the `pkg-config` program (no crate needed) and tells cargo how to
//! link it.
//!
//! Environment:
//! - `PKG_CONFIG`: the pkg-config program (default `pkg-config`);
//! - `PKG_CONFIG_PATH` / `PKG_CONFIG_LIBDIR`: where pydebug.pc is, for a private prefix;
//! - `PYDEBUG_STATIC=1`: link libpydebug.a (`pkg-config --static`) instead of the .so.
//!
//! Dependent crates get the include directory as `DEP_PYDEBUG_INCLUDE`.
use std::env;
use std::process::Command;

const MODULE: &str = "pydebug >= 1.0";

fn pkg_config(args: &[&str]) -> String {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = match Command::new(&program).args(args).arg(MODULE).output() {
        Ok(output) => output,
        Err(e) => panic!("pydebug-sys: cannot run `{}`: {} (install pkg-config)", program, e),
    };
    if !output.status.success() {
        panic!(
            "pydebug-sys: `{} {} '{}'` failed: {}\nInstall libpydebug, or point \
             PKG_CONFIG_PATH at the directory that holds pydebug.pc.",
            program,
            args.join(" "),
            MODULE,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).expect("pkg-config printed non-UTF-8 text")
}

fn main() {
    for var in ["PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PYDEBUG_STATIC"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");
    let want_static = env::var_os("PYDEBUG_STATIC").map_or(false, |v| v != "0" && !v.is_empty());
    let mut args = vec!["--libs"];
    if want_static {
        args.push("--static");
    }
    for flag in pkg_config(&args).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            let kind = if want_static && lib == "pydebug" { "static=" } else { "" };
            println!("cargo:rustc-link-lib={}{}", kind, lib);
        } else if flag == "-pthread" {
            println!("cargo:rustc-link-lib=pthread");
        } else {
            println!("cargo:warning=pydebug-sys: ignoring pkg-config flag {}", flag);
        }
    }
    let include = pkg_config(&["--variable=includedir"]);
    println!("cargo:include={}", include.trim());
}
