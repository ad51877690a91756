//! Cross-crate tests live under `tests/tests/`; this crate has no library code of its own.
