//! Bridge tests against the real local stack: snapshot, binlog apply, exactly once.
