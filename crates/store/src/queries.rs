//! Read queries against the local copy of the replicated state.
//!
//! Reads never go through Raft: every node answers from its own `state.db`. After a write
//! returns on the leader, the leader's reads already see it (openraft answers a client write
//! only once the entry is applied locally).

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;
use vpnkeeper_domain::secrets::Sealed;
use vpnkeeper_domain::{
    ApiKey, ApiScope, AuditEntry, Counts, Device, DeviceRef, DeviceType, Node, NodeId,
    NodeWireguard, Protocol, User, UserRef,
};

use crate::change::{Change, Generations};
use crate::raft_types::LogId;

/// One device as a data plane's change pass needs it (see [`ReadStore::device_desires`]).
#[derive(Debug, Clone)]
pub struct DeviceDesire {
    pub id: i64,
    pub name: String,
    pub wg_public_key: Option<String>,
    pub wg_psk: Option<Sealed>,
    pub address_v4: Option<String>,
    /// Active, of an enabled user, on this node, of one of the asked protocols.
    pub wanted: bool,
}

/// Columns: id, name, wg_public_key, wg_psk, address_v4, wanted (0/1).
fn desire_from_row(r: &sqlx::sqlite::SqliteRow) -> DeviceDesire {
    let address: Option<i64> = r.get(4);
    DeviceDesire {
        id: r.get(0),
        name: r.get(1),
        wg_public_key: r.get(2),
        wg_psk: r.get::<Option<String>, _>(3).map(Sealed::from_stored),
        address_v4: address.map(|a| format!("{}/32", std::net::Ipv4Addr::from(a as u32))),
        wanted: r.get::<i64, _>(5) != 0,
    }
}

/// One device as a change pass of a data plane that serves it on every node needs it (see
/// [`ReadStore::device_wants_everywhere`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceWant {
    pub id: i64,
    pub uuid: Uuid,
    /// Active, of an enabled user in an active or on-hold plan, of the asked protocol.
    pub wanted: bool,
}

/// The condition of a device a data plane serves (besides its node), as in
/// [`ReadStore::desired_devices`]: active, of an enabled user whose plan lets it connect.
pub(crate) const SERVED: &str =
    "d.revoked_at IS NULL AND u.enabled = 1 AND u.status IN ('active', 'on_hold')";

/// `'awg','wireguard'`: protocol names are fixed identifiers, safe to inline.
fn protocol_list(protocols: &[Protocol]) -> String {
    protocols
        .iter()
        .map(|p| format!("'{}'", p.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Clone)]
pub struct ReadStore {
    pool: SqlitePool,
    applied: watch::Receiver<Option<LogId>>,
    changes: broadcast::Sender<Change>,
    generations: std::sync::Arc<Generations>,
}

/// Pagination for list queries. `limit` is clamped to 1..=1000.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 100,
            offset: 0,
        }
    }
}

impl Page {
    fn limit(&self) -> i64 {
        self.limit.clamp(1, 1000)
    }
    fn offset(&self) -> i64 {
        self.offset.max(0)
    }
}

const USER_COLS: &str = "id, name, telegram_id, enabled, sub_token, created_at, updated_at";
const DEVICE_COLS: &str = "id, uuid, user_id, node_id, name, device_type, protocol, wg_public_key, wg_private_key, wg_psk, address_v4, created_at, revoked_at, last_handshake_at, rx_bytes, tx_bytes";
const NODE_COLS: &str =
    "id, name, raft_addr, api_addr, public_host, wireguard, xray, created_at, updated_at";

fn user_from_row(r: &SqliteRow) -> User {
    User {
        id: r.get(0),
        name: r.get(1),
        telegram_id: r.get(2),
        enabled: r.get::<i64, _>(3) != 0,
        sub_token: r.get(4),
        created_at_ms: r.get(5),
        updated_at_ms: r.get(6),
    }
}

fn device_from_row(r: &SqliteRow) -> Result<Device, sqlx::Error> {
    let decode = |col: &str, e: String| sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: e.into(),
    };
    let uuid: String = r.get(1);
    let device_type: String = r.get(5);
    let protocol: String = r.get(6);
    let address: Option<i64> = r.get(10);
    Ok(Device {
        id: r.get(0),
        uuid: Uuid::parse_str(&uuid).map_err(|e| decode("uuid", e.to_string()))?,
        user_id: r.get(2),
        node_id: r.get::<i64, _>(3) as NodeId,
        name: r.get(4),
        device_type: device_type
            .parse::<DeviceType>()
            .map_err(|e| decode("device_type", e))?,
        protocol: protocol
            .parse::<Protocol>()
            .map_err(|e| decode("protocol", e))?,
        wg_public_key: r.get(7),
        wg_private_key: r.get::<Option<String>, _>(8).map(Sealed::from_stored),
        wg_psk: r.get::<Option<String>, _>(9).map(Sealed::from_stored),
        address_v4: address.map(|a| format!("{}/32", std::net::Ipv4Addr::from(a as u32))),
        created_at_ms: r.get(11),
        revoked_at_ms: r.get(12),
        last_handshake_ms: r.get(13),
        rx_bytes: r.get(14),
        tx_bytes: r.get(15),
    })
}

fn node_from_row(r: &SqliteRow) -> Result<Node, sqlx::Error> {
    let wg: Option<String> = r.get(5);
    let xray: Option<String> = r.get(6);
    let wireguard = wg
        .map(|j| serde_json::from_str::<NodeWireguard>(&j))
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "wireguard".into(),
            source: Box::new(e),
        })?;
    let xray = xray
        .map(|j| serde_json::from_str::<serde_json::Value>(&j))
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "xray".into(),
            source: Box::new(e),
        })?;
    Ok(Node {
        id: r.get::<i64, _>(0) as NodeId,
        name: r.get(1),
        raft_addr: r.get(2),
        api_addr: r.get(3),
        public_host: r.get(4),
        wireguard,
        xray,
        created_at_ms: r.get(7),
        updated_at_ms: r.get(8),
    })
}

impl ReadStore {
    pub(crate) fn new(
        pool: SqlitePool,
        applied: watch::Receiver<Option<LogId>>,
        changes: broadcast::Sender<Change>,
        generations: std::sync::Arc<Generations>,
    ) -> Self {
        Self {
            pool,
            applied,
            changes,
            generations,
        }
    }

    /// Changes whenever an applied entry may have changed API keys (see
    /// [`Generations`]): a cached key is good while this is unchanged.
    pub fn api_keys_generation(&self) -> u64 {
        self.generations.api_keys()
    }

    /// The same for nodes.
    pub fn nodes_generation(&self) -> u64 {
        self.generations.nodes()
    }

    /// The read pool, for query modules elsewhere in this crate (the bot's queries).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The log id of the last applied entry, as of now.
    pub fn last_applied(&self) -> Option<LogId> {
        *self.applied.borrow()
    }

    /// Subscribe to changes as entries are applied (reconcilers, bot).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    pub fn applied_watch(&self) -> watch::Receiver<Option<LogId>> {
        self.applied.clone()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A trivial query, used by `/health` to prove the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    // ---- users ----

    pub async fn user(&self, user: &UserRef) -> Result<Option<User>, sqlx::Error> {
        let (sql, bind): (String, Bind) = match user {
            UserRef::Id(id) => (
                format!("SELECT {USER_COLS} FROM users WHERE id = ?"),
                Bind::I(*id),
            ),
            UserRef::Name(n) => (
                format!("SELECT {USER_COLS} FROM users WHERE name = ?"),
                Bind::S(n.clone()),
            ),
            UserRef::TelegramId(t) => (
                format!("SELECT {USER_COLS} FROM users WHERE telegram_id = ?"),
                Bind::I(*t),
            ),
        };
        let q = sqlx::query(&sql);
        let q = match bind {
            Bind::I(i) => q.bind(i),
            Bind::S(s) => q.bind(s),
        };
        Ok(q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row))
    }

    pub async fn user_by_sub_token(&self, token: &str) -> Result<Option<User>, sqlx::Error> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE sub_token = ?");
        Ok(sqlx::query(&sql)
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row))
    }

    /// Users ordered by id; `search` matches a name substring (case-insensitive for ASCII).
    pub async fn users(&self, page: Page, search: Option<&str>) -> Result<Vec<User>, sqlx::Error> {
        let rows = match search {
            Some(s) => {
                let sql = format!(
                    "SELECT {USER_COLS} FROM users WHERE name LIKE ? ESCAPE '\\' ORDER BY id LIMIT ? OFFSET ?"
                );
                sqlx::query(&sql)
                    .bind(format!("%{}%", escape_like(s)))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {USER_COLS} FROM users ORDER BY id LIMIT ? OFFSET ?");
                sqlx::query(&sql)
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(user_from_row).collect())
    }

    // ---- devices ----

    pub async fn device(&self, device: &DeviceRef) -> Result<Option<Device>, sqlx::Error> {
        let row = match device {
            DeviceRef::Id(id) => {
                sqlx::query(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            DeviceRef::Uuid(u) => {
                sqlx::query(&format!("SELECT {DEVICE_COLS} FROM devices WHERE uuid = ?"))
                    .bind(u.to_string())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.as_ref().map(device_from_row).transpose()
    }

    pub async fn devices_of_user(
        &self,
        user_id: i64,
        include_revoked: bool,
    ) -> Result<Vec<Device>, sqlx::Error> {
        let sql = if include_revoked {
            format!("SELECT {DEVICE_COLS} FROM devices WHERE user_id = ? ORDER BY id")
        } else {
            format!("SELECT {DEVICE_COLS} FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY id")
        };
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(device_from_row).collect()
    }

    pub async fn devices(
        &self,
        page: Page,
        include_revoked: bool,
    ) -> Result<Vec<Device>, sqlx::Error> {
        let filter = if include_revoked {
            ""
        } else {
            "WHERE revoked_at IS NULL"
        };
        let sql =
            format!("SELECT {DEVICE_COLS} FROM devices {filter} ORDER BY id LIMIT ? OFFSET ?");
        let rows = sqlx::query(&sql)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(device_from_row).collect()
    }

    /// The desired data-plane state of a node: its active devices of enabled users for the
    /// given protocols. Limited, expired and disabled users are not served (issue #15).
    pub async fn desired_devices(
        &self,
        node_id: NodeId,
        protocols: &[Protocol],
    ) -> Result<Vec<Device>, sqlx::Error> {
        let list = protocol_list(protocols);
        let sql = format!(
            "SELECT {} FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.node_id = ? AND {SERVED} AND d.protocol IN ({list})
             ORDER BY d.id",
            DEVICE_COLS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(node_id as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(device_from_row).collect()
    }

    /// The devices `ids` as a data plane needs them, each with whether this node should
    /// serve it now (the same condition as [`ReadStore::desired_devices`]). For a change
    /// pass: O(ids), only the columns a peer needs. Ids with no row (deleted) are absent.
    pub async fn device_desires(
        &self,
        node_id: NodeId,
        protocols: &[Protocol],
        ids: &[i64],
    ) -> Result<Vec<DeviceDesire>, sqlx::Error> {
        let list = protocol_list(protocols);
        let mut out = Vec::with_capacity(ids.len());
        // Well under SQLite's bound-variable limit per statement.
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT d.id, d.name, d.wg_public_key, d.wg_psk, d.address_v4,
                        d.node_id = ? AND {SERVED} AND d.protocol IN ({list})
                 FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id IN ({marks})"
            );
            let mut q = sqlx::query(&sql).bind(node_id as i64);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(desire_from_row(&r));
            }
        }
        Ok(out)
    }

    /// What [`ReadStore::desired_devices`] selects, as [`DeviceDesire`]s: only the columns
    /// a WireGuard peer needs, streamed row by row. A full pass of a node with 20,000
    /// devices read whole `Device` rows at once (16 columns each) and left the node's
    /// idle RSS ~60 MB higher: the rows' allocations interleaved with the peers' and the
    /// freed memory stayed fragmented.
    pub async fn desired_peers(
        &self,
        node_id: NodeId,
        protocols: &[Protocol],
    ) -> Result<Vec<DeviceDesire>, sqlx::Error> {
        use futures::TryStreamExt;
        let list = protocol_list(protocols);
        let sql = format!(
            "SELECT d.id, d.name, d.wg_public_key, d.wg_psk, d.address_v4, 1
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.node_id = ? AND {SERVED} AND d.protocol IN ({list})
             ORDER BY d.id"
        );
        let mut out = Vec::new();
        let mut rows = sqlx::query(&sql).bind(node_id as i64).fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            out.push(desire_from_row(&r));
        }
        Ok(out)
    }

    /// The devices `ids` of `protocol` with whether they are served, on whatever node they
    /// were placed: a change pass of a data plane that serves every node's devices (Xray)
    /// reads just these rows, O(ids). Ids with no row (deleted) are absent.
    pub async fn device_wants_everywhere(
        &self,
        protocol: Protocol,
        ids: &[i64],
    ) -> Result<Vec<DeviceWant>, sqlx::Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT d.id, d.uuid, {SERVED} AND d.protocol = ?
                 FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id IN ({marks})"
            );
            let mut q = sqlx::query(&sql).bind(protocol.as_str());
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let uuid: String = r.get(1);
                out.push(DeviceWant {
                    id: r.get(0),
                    uuid: Uuid::parse_str(&uuid).map_err(|e| sqlx::Error::ColumnDecode {
                        index: "uuid".into(),
                        source: e.into(),
                    })?,
                    wanted: r.get::<i64, _>(2) != 0,
                });
            }
        }
        Ok(out)
    }

    // ---- nodes ----

    pub async fn node(&self, id: NodeId) -> Result<Option<Node>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {NODE_COLS} FROM nodes WHERE id = ?"))
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(node_from_row).transpose()
    }

    pub async fn nodes(&self) -> Result<Vec<Node>, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {NODE_COLS} FROM nodes ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node_from_row).collect()
    }

    // ---- API keys ----

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
        let row = sqlx::query("SELECT id, name, scope, secret_hash, created_at, revoked_at FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| api_key_from_row(&r)))
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, name, scope, secret_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(api_key_from_row).collect())
    }

    // ---- audit and stats ----

    pub async fn audit(&self, page: Page) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?")
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at_ms: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                detail: r.get(5),
            })
            .collect())
    }

    pub async fn counts(&self) -> Result<Counts, sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM users WHERE enabled = 1),
                    (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL),
                    (SELECT COUNT(*) FROM devices WHERE revoked_at IS NOT NULL),
                    (SELECT COUNT(*) FROM nodes)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            users: row.get(0),
            users_enabled: row.get(1),
            devices_active: row.get(2),
            devices_revoked: row.get(3),
            nodes: row.get(4),
        })
    }
}

fn api_key_from_row(r: &SqliteRow) -> ApiKey {
    let scope: String = r.get(2);
    ApiKey {
        id: r.get(0),
        name: r.get(1),
        // Unknown scopes (from a newer version) degrade to read-only, never to admin.
        scope: ApiScope::parse(&scope).unwrap_or(ApiScope::ReadOnly),
        secret_hash: r.get(3),
        created_at_ms: r.get(4),
        revoked_at_ms: r.get(5),
    }
}

enum Bind {
    I(i64),
    S(String),
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A user with the account figures the API and the subscription endpoint show.
#[derive(Debug, Clone)]
pub struct UserAccount {
    pub user: User,
    /// Unix ms after which access stops; `None` = never.
    pub expires_at_ms: Option<i64>,
    /// Quota in bytes (upload + download); `None` = unlimited.
    pub traffic_limit_bytes: Option<i64>,
    /// Bytes the user's devices sent (the server's rx), over all devices ever issued.
    pub upload_bytes: i64,
    /// Bytes the user's devices received (the server's tx).
    pub download_bytes: i64,
    pub devices_active: i64,
    /// Lifecycle status (issue #15): active, disabled, limited, expired, on_hold.
    pub status: String,
    /// Bytes used in the current reset period.
    pub used_bytes: i64,
    pub plan_id: Option<i64>,
}

impl UserAccount {
    /// Whether the subscription and the data plane should serve this user at `now_ms`.
    pub fn is_active_at(&self, now_ms: i64) -> bool {
        self.user.enabled
            && matches!(self.status.as_str(), "active" | "on_hold")
            && self.expires_at_ms.is_none_or(|e| now_ms < e)
            && self.traffic_limit_bytes.is_none_or(|l| self.used_bytes < l)
    }
}

/// Filters of the user list. `search` matches a name substring, or a Telegram id exactly
/// when it is a number.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub search: Option<String>,
    pub enabled: Option<bool>,
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target: Option<String>,
}

/// Active/revoked device counts per protocol (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStateCount {
    pub protocol: String,
    pub active: bool,
    pub count: i64,
}

const ACCOUNT_SELECT: &str =
    "SELECT u.id, u.name, u.telegram_id, u.enabled, u.sub_token, u.created_at, u.updated_at,
        u.expires_at, u.traffic_limit_bytes,
        COALESCE((SELECT SUM(d.rx_bytes) FROM devices d WHERE d.user_id = u.id), 0),
        COALESCE((SELECT SUM(d.tx_bytes) FROM devices d WHERE d.user_id = u.id), 0),
        (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL),
        u.status, u.used_bytes, u.plan_id
     FROM users u";

/// `?1` search pattern (LIKE), `?2` search as a Telegram id, `?3` enabled flag.
const USER_FILTER_WHERE: &str =
    "WHERE (?1 IS NULL OR u.name LIKE ?1 ESCAPE '\\' OR u.telegram_id = ?2)
       AND (?3 IS NULL OR u.enabled = ?3)";

fn account_from_row(r: &SqliteRow) -> UserAccount {
    UserAccount {
        user: user_from_row(r),
        expires_at_ms: r.get(7),
        traffic_limit_bytes: r.get(8),
        upload_bytes: r.get(9),
        download_bytes: r.get(10),
        devices_active: r.get(11),
        status: r.get(12),
        used_bytes: r.get(13),
        plan_id: r.get(14),
    }
}

fn filter_binds(f: &UserFilter) -> (Option<String>, Option<i64>, Option<bool>) {
    let search = f.search.as_deref().filter(|s| !s.is_empty());
    (
        search.map(|s| format!("%{}%", escape_like(s))),
        search.and_then(|s| s.trim().parse::<i64>().ok()),
        f.enabled,
    )
}

impl ReadStore {
    pub async fn user_account(&self, user: &UserRef) -> Result<Option<UserAccount>, sqlx::Error> {
        let (clause, bind) = match user {
            UserRef::Id(id) => ("u.id = ?", Bind::I(*id)),
            UserRef::Name(n) => ("u.name = ?", Bind::S(n.clone())),
            UserRef::TelegramId(t) => ("u.telegram_id = ?", Bind::I(*t)),
        };
        let sql = format!("{ACCOUNT_SELECT} WHERE {clause}");
        let q = sqlx::query(&sql);
        let q = match bind {
            Bind::I(i) => q.bind(i),
            Bind::S(s) => q.bind(s),
        };
        Ok(q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from_row))
    }

    pub async fn user_account_by_sub_token(
        &self,
        token: &str,
    ) -> Result<Option<UserAccount>, sqlx::Error> {
        let sql = format!("{ACCOUNT_SELECT} WHERE u.sub_token = ?");
        Ok(sqlx::query(&sql)
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(account_from_row))
    }

    /// A page of users (ordered by id) with their account figures.
    pub async fn user_accounts(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<Vec<UserAccount>, sqlx::Error> {
        let (pattern, tg, enabled) = filter_binds(filter);
        let sql = format!("{ACCOUNT_SELECT} {USER_FILTER_WHERE} ORDER BY u.id LIMIT ?4 OFFSET ?5");
        let rows = sqlx::query(&sql)
            .bind(pattern)
            .bind(tg)
            .bind(enabled)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(account_from_row).collect())
    }

    /// How many users match `filter` (for pagination totals).
    pub async fn users_total(&self, filter: &UserFilter) -> Result<i64, sqlx::Error> {
        let (pattern, tg, enabled) = filter_binds(filter);
        let sql = format!("SELECT COUNT(*) FROM users u {USER_FILTER_WHERE}");
        sqlx::query_scalar(&sql)
            .bind(pattern)
            .bind(tg)
            .bind(enabled)
            .fetch_one(&self.pool)
            .await
    }

    /// Audit entries, newest first, optionally of one action and/or one target.
    pub async fn audit_filtered(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log
             WHERE (?1 IS NULL OR action = ?1) AND (?2 IS NULL OR target = ?2)
             ORDER BY id DESC LIMIT ?3 OFFSET ?4",
        )
        .bind(filter.action.as_deref())
        .bind(filter.target.as_deref())
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at_ms: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                detail: r.get(5),
            })
            .collect())
    }

    /// Devices counted by protocol and state (active/revoked).
    pub async fn device_state_counts(&self) -> Result<Vec<DeviceStateCount>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT protocol, revoked_at IS NULL, COUNT(*) FROM devices GROUP BY protocol, revoked_at IS NULL ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DeviceStateCount {
                protocol: r.get(0),
                active: r.get::<i64, _>(1) != 0,
                count: r.get(2),
            })
            .collect())
    }
}
