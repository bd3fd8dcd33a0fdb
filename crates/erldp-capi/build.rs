//! Gives `libErlDP.so` its SONAME, so that programs linked to it record
//! the ABI they were built against rather than the file's name (or path).
//!
//! The ABI changes when the version does in a way Cargo calls incompatible:
//! any minor version before 1.0, the major version after. So 0.1.x is
//! `libErlDP.so.0.1` and 1.x would be `libErlDP.so.1`. `make install`
//! installs `libErlDP.so.<version>` with the SONAME and the development
//! name `libErlDP.so` as symbolic links to it. Tests read the name from
//! `env!("ERLDP_SONAME")`.

use std::env;

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    let minor = env::var("CARGO_PKG_VERSION_MINOR").expect("set by cargo");
    let soname = if major == "0" {
        format!("libErlDP.so.0.{minor}")
    } else {
        format!("libErlDP.so.{major}")
    };
    println!("cargo:rustc-env=ERLDP_SONAME={soname}");
    // ELF platforms; macOS names its libraries with install_name instead.
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("unix")
        && !matches!(os.as_str(), "macos" | "ios")
    {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
}
