//! `/api/v1/nodes`: the fleet as the replicated state knows it.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use vpnkeeper_domain::Node;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::ApiState;

/// A node as the API shows it: the sealed private keys are dropped, not just encrypted.
pub fn public_node(mut node: Node) -> Node {
    if let Some(wg) = node.wireguard.as_mut() {
        wg.private_key = None;
    }
    node
}

#[derive(Serialize)]
pub struct NodeList {
    pub nodes: Vec<Node>,
}

pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<NodeList>, ApiError> {
    let nodes = state
        .read()
        .nodes()
        .await?
        .into_iter()
        .map(public_node)
        .collect();
    Ok(Json(NodeList { nodes }))
}
