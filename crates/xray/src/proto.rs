//! Code generated from `proto/` (wire-compatible subsets of Xray-core's API).
#![allow(clippy::all, missing_docs)]

pub mod serial {
    tonic::include_proto!("xray.common.serial");
}
pub mod protocol {
    tonic::include_proto!("xray.common.protocol");
}
pub mod vless {
    tonic::include_proto!("xray.proxy.vless");
}
pub mod proxyman {
    tonic::include_proto!("xray.app.proxyman.command");
}
pub mod stats {
    tonic::include_proto!("xray.app.stats.command");
}
