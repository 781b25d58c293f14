//! Shop tests against the real local stack: catalogue, live stock, lag guard.
