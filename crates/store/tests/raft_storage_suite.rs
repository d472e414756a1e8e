//! openraft's own storage conformance suite, run against the real SQLite log store and
//! state machine on a fresh temporary directory per test case.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use vpnkeeper_store::{LogStore, StateMachine, TypeConfig};

struct SqliteStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SqliteStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("create temp dir");
        let (log, sm, _read) = vpnkeeper_store::open(dir.path()).await.expect("open store");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    if let Err(e) = Suite::test_all(SqliteStoreBuilder) {
        panic!("openraft storage suite failed: {e}");
    }
}
