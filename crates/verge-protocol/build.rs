//! Compiles the channel schema. The .proto is the single source of truth; the
//! generated Rust is never checked in.

use std::io::Error;

const PROTO: &str = "proto/verge/channel/v1/channel.proto";

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let mut config = prost_build::Config::new();
    // Frames are decoded from `Bytes`; object bodies then share the frame's
    // buffer instead of being copied into a Vec.
    config.bytes(["."]);
    config.compile_protos(&[PROTO], &["proto"]).map_err(|e| {
        Error::other(format!(
            "compiling {PROTO} failed: {e}. protoc (protobuf-compiler) must be installed; \
             run scripts/install-deps, or set PROTOC to its path"
        ))
    })
}
