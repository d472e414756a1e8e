//! API keys and join invites: `CreateApiKey`, `RevokeApiKey`, `CreateInvite`.

use crate::validate::{self, ValidationError};

/// `CreateApiKey`: the key's name follows the name rules (ids and hashes are generated).
pub fn validate_create(name: &str) -> Result<(), ValidationError> {
    validate::name("name", name)
}

/// `RedeemInvite`: node ids start at 1.
pub fn validate_redeem(node_id: u64) -> Result<(), ValidationError> {
    if node_id == 0 {
        return Err(ValidationError::new("node_id", "node ids start at 1"));
    }
    Ok(())
}
