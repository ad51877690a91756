//! taskstream's ports over AWS services. Lambda handlers wire these; nothing here links SQLite.
