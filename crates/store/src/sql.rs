//! A small, blocking query builder over rusqlite for the state machine's writer.
//!
//! Why not sqlx here: sqlx runs each SQLite statement on a worker thread and hands the
//! result back over a channel, so every statement costs two thread wake-ups. An entry's
//! apply is about a dozen statements; on a busy 2-core node those hand-offs were most of
//! its cost (measured: ~1.1 ms per `IssueDevice`, with the SQL itself ~0.15 ms). The writer
//! therefore runs the whole apply on one blocking connection. Readers (API, bot,
//! reconcilers) stay on sqlx's async pool: they are independent of each other.
//!
//! The builder mirrors the sqlx calls the apply code was written with (`query(..).bind(..)
//! .execute(conn)`, `query_scalar`, `query_as`, `Row::get`), so the apply code reads the
//! same, only without `.await`.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::{FromSql, ToSql, Value};
use rusqlite::Connection;

pub type Conn = Connection;
pub type Error = rusqlite::Error;

/// A statement and its bound parameters.
pub struct Query {
    sql: String,
    params: Vec<Value>,
    /// A parameter that could not be converted, reported when the statement runs.
    bad_param: Option<Error>,
}

pub fn query(sql: &str) -> Query {
    Query {
        sql: sql.to_string(),
        params: Vec::new(),
        bad_param: None,
    }
}

/// A statement whose first column is the answer.
pub fn query_scalar<T: FromSql>(sql: &str) -> Scalar<T> {
    Scalar {
        q: query(sql),
        _t: PhantomData,
    }
}

/// A statement whose rows are tuples.
pub fn query_as<T: FromRow>(sql: &str) -> As<T> {
    As {
        q: query(sql),
        _t: PhantomData,
    }
}

fn to_value<T: ToSql>(v: T) -> Result<Value, Error> {
    use rusqlite::types::ToSqlOutput;
    Ok(match v.to_sql()? {
        ToSqlOutput::Borrowed(r) => r.into(),
        ToSqlOutput::Owned(v) => v,
        other => {
            return Err(Error::ToSqlConversionFailure(
                format!("unsupported parameter {other:?}").into(),
            ))
        }
    })
}

impl Query {
    pub fn bind<T: ToSql>(mut self, v: T) -> Self {
        match to_value(v) {
            Ok(v) => self.params.push(v),
            Err(e) => {
                self.params.push(Value::Null);
                self.bad_param.get_or_insert(e);
            }
        }
        self
    }

    fn check(&self) -> Result<(), Error> {
        match &self.bad_param {
            Some(e) => Err(Error::ToSqlConversionFailure(e.to_string().into())),
            None => Ok(()),
        }
    }

    pub fn execute(self, conn: &Conn) -> Result<Done, Error> {
        self.check()?;
        let mut st = conn.prepare_cached(&self.sql)?;
        let rows = st.execute(rusqlite::params_from_iter(self.params.iter()))?;
        Ok(Done { rows })
    }

    pub fn fetch_all(self, conn: &Conn) -> Result<Vec<Row>, Error> {
        self.check()?;
        let mut st = conn.prepare_cached(&self.sql)?;
        let width = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(self.params.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(r.get::<_, Value>(i)?);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    pub fn fetch_optional(self, conn: &Conn) -> Result<Option<Row>, Error> {
        Ok(self.fetch_all(conn)?.into_iter().next())
    }

    pub fn fetch_one(self, conn: &Conn) -> Result<Row, Error> {
        self.fetch_optional(conn)?.ok_or(Error::QueryReturnedNoRows)
    }
}

/// What `execute` did.
pub struct Done {
    rows: usize,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows as u64
    }
}

/// One result row, read out of the statement.
pub struct Row(Vec<Value>);

/// Column indices as the apply code writes them (`r.get::<i64, _>(0)` or `r.get(0)`).
pub trait ColIndex {
    fn index(self) -> usize;
}

impl ColIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl ColIndex for i32 {
    fn index(self) -> usize {
        self as usize
    }
}

impl Row {
    /// The column converted to `T`. Like sqlx's `Row::get`, a column of the wrong type is
    /// a programming error (the schema is ours), so it panics rather than returning.
    pub fn get<T: FromSql, I: ColIndex>(&self, i: I) -> T {
        let i = i.index();
        let v = self.0.get(i).unwrap_or_else(|| panic!("no column {i}"));
        T::column_result(rusqlite::types::ValueRef::from(v))
            .unwrap_or_else(|e| panic!("column {i}: {e}"))
    }

    fn try_get<T: FromSql>(&self, i: usize) -> Result<T, Error> {
        let v = self.0.get(i).ok_or(Error::InvalidColumnIndex(i))?;
        T::column_result(rusqlite::types::ValueRef::from(v))
            .map_err(|e| Error::FromSqlConversionFailure(i, v.data_type(), Box::new(e)))
    }
}

pub struct Scalar<T> {
    q: Query,
    _t: PhantomData<T>,
}

impl<T: FromSql> Scalar<T> {
    pub fn bind<V: ToSql>(mut self, v: V) -> Self {
        self.q = self.q.bind(v);
        self
    }
    pub fn fetch_optional(self, conn: &Conn) -> Result<Option<T>, Error> {
        self.q
            .fetch_optional(conn)?
            .map(|r| r.try_get(0))
            .transpose()
    }
    pub fn fetch_one(self, conn: &Conn) -> Result<T, Error> {
        self.q.fetch_one(conn)?.try_get(0)
    }
    pub fn fetch_all(self, conn: &Conn) -> Result<Vec<T>, Error> {
        self.q
            .fetch_all(conn)?
            .into_iter()
            .map(|r| r.try_get(0))
            .collect()
    }
}

/// Rows as tuples.
pub trait FromRow: Sized {
    fn from_row(r: &Row) -> Result<Self, Error>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromSql),+> FromRow for ($($t,)+) {
            fn from_row(r: &Row) -> Result<Self, Error> {
                Ok(($(r.try_get::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);

pub struct As<T> {
    q: Query,
    _t: PhantomData<T>,
}

impl<T: FromRow> As<T> {
    pub fn bind<V: ToSql>(mut self, v: V) -> Self {
        self.q = self.q.bind(v);
        self
    }
    pub fn fetch_optional(self, conn: &Conn) -> Result<Option<T>, Error> {
        self.q
            .fetch_optional(conn)?
            .map(|r| T::from_row(&r))
            .transpose()
    }
}

/// A transaction that takes the write lock at `BEGIN`, waiting for it with the busy
/// handler. A deferred one that has read and then writes gets `SQLITE_BUSY` at once when
/// another connection holds the lock (the checkpointer restarting the WAL, see
/// checkpoint.rs): SQLite runs no busy handler for a read transaction's upgrade, and a
/// failed apply stops Raft on the node.
pub fn write_transaction(conn: &Conn) -> Result<rusqlite::Transaction<'_>, Error> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

/// A savepoint: `commit` releases it, `rollback` undoes everything since it was taken, and
/// dropping it unreleased undoes too (as a dropped sqlx transaction does).
pub struct Savepoint<'c> {
    conn: &'c Conn,
    name: String,
    open: bool,
}

static SAVEPOINTS: AtomicU64 = AtomicU64::new(0);

pub fn savepoint(conn: &Conn) -> Result<Savepoint<'_>, Error> {
    let name = format!("sp{}", SAVEPOINTS.fetch_add(1, Ordering::Relaxed));
    conn.execute_batch(&format!("SAVEPOINT {name}"))?;
    Ok(Savepoint {
        conn,
        name,
        open: true,
    })
}

impl Savepoint<'_> {
    pub fn commit(mut self) -> Result<(), Error> {
        self.open = false;
        self.conn.execute_batch(&format!("RELEASE {}", self.name))
    }

    pub fn rollback(mut self) -> Result<(), Error> {
        self.open = false;
        self.undo()
    }

    fn undo(&self) -> Result<(), Error> {
        self.conn
            .execute_batch(&format!("ROLLBACK TO {0}; RELEASE {0}", self.name))
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.undo();
        }
    }
}

impl std::ops::Deref for Savepoint<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_reads_and_writes_like_sqlx() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, n INTEGER, flag INTEGER)",
        )
        .unwrap();
        let done = query("INSERT INTO t(name, n, flag) VALUES(?, ?, ?)")
            .bind("a")
            .bind(Some(5i64))
            .bind(true)
            .execute(&c)
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        query("INSERT INTO t(name, n, flag) VALUES(?, ?, ?)")
            .bind("b".to_string())
            .bind(None::<i64>)
            .bind(false)
            .execute(&c)
            .unwrap();
        let id: Option<i64> = query_scalar("SELECT id FROM t WHERE name = ?")
            .bind("b")
            .fetch_optional(&c)
            .unwrap();
        assert_eq!(id, Some(2));
        let n: Option<Option<i64>> = query_scalar("SELECT n FROM t WHERE id = ?")
            .bind(2)
            .fetch_optional(&c)
            .unwrap();
        assert_eq!(n, Some(None));
        let pair: Option<(String, i64)> = query_as("SELECT name, flag FROM t WHERE id = ?")
            .bind(1)
            .fetch_optional(&c)
            .unwrap();
        assert_eq!(pair, Some(("a".into(), 1)));
        let r = query("SELECT id, name FROM t ORDER BY id")
            .fetch_all(&c)
            .unwrap();
        assert_eq!(r[1].get::<String, _>(1), "b");
        let all: Vec<i64> = query_scalar("SELECT id FROM t").fetch_all(&c).unwrap();
        assert_eq!(all, vec![1, 2]);
    }

    #[test]
    fn savepoints_commit_roll_back_and_roll_back_when_dropped() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t(x INTEGER)").unwrap();
        let count =
            |c: &Conn| -> i64 { query_scalar("SELECT COUNT(*) FROM t").fetch_one(c).unwrap() };
        let sp = savepoint(&c).unwrap();
        query("INSERT INTO t VALUES(1)").execute(&sp).unwrap();
        sp.commit().unwrap();
        assert_eq!(count(&c), 1);
        let sp = savepoint(&c).unwrap();
        query("INSERT INTO t VALUES(2)").execute(&sp).unwrap();
        sp.rollback().unwrap();
        assert_eq!(count(&c), 1);
        {
            let sp = savepoint(&c).unwrap();
            query("INSERT INTO t VALUES(3)").execute(&sp).unwrap();
        }
        assert_eq!(count(&c), 1);
    }
}
