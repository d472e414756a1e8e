//! API keys and join invites: `CreateApiKey`, `RevokeApiKey`, `CreateInvite`.

use crate::validate::{self, ValidationError};

/// `CreateApiKey`: the key's name follows the name rules (ids and hashes are generated).
pub fn validate_create(name: &str) -> Result<(), ValidationError> {
    validate::name("name", name)
}
