//! Generates the Xray gRPC client from `proto/` with the pure-Rust `protox`
//! compiler, so building this crate never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/typed_message.proto",
        "proto/user.proto",
        "proto/vless_account.proto",
        "proto/proxyman_command.proto",
        "proto/stats_command.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
