//! Node commands: registration (`UpsertNode`) and the admin's reboot request.

use serde::{Deserialize, Serialize};

use crate::entity::{NodeId, NodeWireguard};
use crate::validate::{self, ValidationError};

/// A node's registration as it enters the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: NodeId,
    pub name: String,
    pub raft_addr: String,
    pub api_addr: String,
    pub public_host: String,
    pub wireguard: Option<NodeWireguard>,
    pub xray: Option<serde_json::Value>,
    /// Relative size for placement (`[node] capacity`); absent in entries written before it
    /// existed, which keeps them byte for byte (see `placement::DEFAULT_CAPACITY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

impl NodeSpec {
    /// `UpsertNode`: a usable name and host, a real id, an address pool with room for
    /// clients and valid AmneziaWG parameters.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::host("public_host", &self.public_host)?;
        if self.id == 0 {
            return Err(ValidationError::new("id", "node ids start at 1"));
        }
        if let Some(wg) = &self.wireguard {
            let prefix = wg.address_pool.prefix_len();
            if prefix > 30 {
                return Err(ValidationError::new(
                    "wireguard.address_pool",
                    format!(
                        "/{prefix} leaves no room for clients; use /30 or wider, e.g. 10.8.0.0/24"
                    ),
                ));
            }
            if let Some(awg) = &wg.awg {
                awg.validate()
                    .map_err(|e| ValidationError::new("wireguard.awg", e))?;
            }
        }
        Ok(())
    }
}
