//! Read queries of imported panels' subscription data (tables of migration 0050).

use vpnkeeper_domain::command::import::ImportSource;
use vpnkeeper_domain::secrets::Sealed;

use crate::queries::ReadStore;

/// An old panel's user as the legacy `/sub/{token}` route needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySubUser {
    /// The user's current vpnkeeper subscription token.
    pub sub_token: String,
    /// Old tokens issued before this (unix ms) had been revoked.
    pub revoked_before_ms: Option<i64>,
}

impl ReadStore {
    /// The sealed secret an old panel signed its subscription tokens with.
    pub async fn legacy_sub_secret(
        &self,
        source: ImportSource,
    ) -> Result<Option<Sealed>, sqlx::Error> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT secret FROM legacy_sub_secrets WHERE source = ?")
                .bind(source.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(s.map(Sealed::from_stored))
    }

    /// The user an old panel's username now is (case-insensitive, as Marzban compares), as long
    /// as their subscription token was not rotated since the import.
    pub async fn legacy_sub_user(
        &self,
        source: ImportSource,
        legacy_name: &str,
    ) -> Result<Option<LegacySubUser>, sqlx::Error> {
        let row: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT u.sub_token, l.revoked_before FROM legacy_sub_users l JOIN users u ON u.id = l.user_id AND u.sub_token = l.sub_token
             WHERE l.source = ? AND l.legacy_name = ?",
        )
        .bind(source.as_str())
        .bind(legacy_name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(sub_token, revoked_before_ms)| LegacySubUser {
            sub_token,
            revoked_before_ms,
        }))
    }
}

impl ReadStore {
    /// The owner of a device that an import would carry over: by WireGuard public key
    /// (active devices) or by UUID. For an import's dry run.
    pub async fn imported_device_owner(
        &self,
        wg_public_key: Option<&str>,
        uuid: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        match wg_public_key {
            Some(k) => {
                sqlx::query_scalar(
                    "SELECT user_id FROM devices WHERE wg_public_key = ? AND revoked_at IS NULL",
                )
                .bind(k)
                .fetch_optional(self.pool())
                .await
            }
            None => {
                sqlx::query_scalar("SELECT user_id FROM devices WHERE uuid = ?")
                    .bind(uuid)
                    .fetch_optional(self.pool())
                    .await
            }
        }
    }
}
