//! The demo legacy stock database: schema, seeded data and generated hat pictures.
