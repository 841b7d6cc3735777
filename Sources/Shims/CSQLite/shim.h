/// C shim for SQLite: the header plus the destructor constants Swift cannot import.
#ifndef BYOC_CSQLITE_SHIM_H
#define BYOC_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT: SQLite copies the bound value before the bind call returns.
static inline sqlite3_destructor_type byoc_sqlite_transient(void) { return SQLITE_TRANSIENT; }
/// SQLITE_STATIC: the bound value outlives the statement's use of it.
static inline sqlite3_destructor_type byoc_sqlite_static(void) { return SQLITE_STATIC; }
#endif
