//! Handles on the local stack, read from the environment that `deploy/local/test` exports.
