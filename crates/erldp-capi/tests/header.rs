//! `include/erldp.h` is generated from this crate by cbindgen and committed.
//! This test fails when the committed header differs from what the sources
//! generate; `make header` (`ERLDP_WRITE_HEADER=1`) rewrites it instead.

use std::path::Path;

fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("reading cbindgen.toml");
    // The version macros come from Cargo.toml, so a version bump makes the
    // committed header stale until it is regenerated.
    let macros = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(format!(
        "\n/** The version of this header, \"MAJOR.MINOR.PATCH\"; compare with erldp_version(). */\n\
         #define ERLDP_VERSION \"{}\"\n\
         /** The major part of ERLDP_VERSION. */\n\
         #define ERLDP_VERSION_MAJOR {}\n\
         /** The minor part of ERLDP_VERSION. */\n\
         #define ERLDP_VERSION_MINOR {}\n\
         /** The patch part of ERLDP_VERSION. */\n\
         #define ERLDP_VERSION_PATCH {}\n\
         /** The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH, for `#if`. */\n\
         #define ERLDP_VERSION_NUMBER ({} * 10000 + {} * 100 + {})\n{macros}",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    ));
    let mut text = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write(&mut text);
    String::from_utf8(text).expect("the header is UTF-8")
}

#[test]
fn the_committed_header_is_generated_from_the_sources() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/erldp.h");
    let generated = generate();
    if std::env::var_os("ERLDP_WRITE_HEADER").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("creating include/");
        std::fs::write(&path, &generated).expect("writing include/erldp.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/erldp.h is stale: it differs from what crates/erldp-capi generates. \
         Run `make header` and commit the result."
    );
}
