//! Code generated from `proto/` (wire-compatible subsets of Xray-core's API).
//!
//! The modules nest exactly like the protobuf packages because prost emits
//! cross-package references as `super::super::…` paths.
#![allow(clippy::all, missing_docs)]

pub mod xray {
    pub mod common {
        pub mod serial {
            tonic::include_proto!("xray.common.serial");
        }
        pub mod protocol {
            tonic::include_proto!("xray.common.protocol");
        }
    }
    pub mod proxy {
        pub mod vless {
            tonic::include_proto!("xray.proxy.vless");
        }
    }
    pub mod app {
        pub mod proxyman {
            pub mod command {
                tonic::include_proto!("xray.app.proxyman.command");
            }
        }
        pub mod stats {
            pub mod command {
                tonic::include_proto!("xray.app.stats.command");
            }
        }
    }
}

pub use self::xray::app::proxyman::command as proxyman;
pub use self::xray::app::stats::command as stats;
pub use self::xray::common::protocol;
pub use self::xray::common::serial;
pub use self::xray::proxy::vless;
