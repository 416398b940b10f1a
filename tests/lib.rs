//! Integration tests live in main.rs and its modules.
