// Package backup takes and restores consistent snapshots of the pipeline's
// database.
//
// A backup is a directory (or an S3 prefix) holding one gzip-compressed
// file per table, <table>.copy.gz, in PostgreSQL's COPY text format, and a
// manifest.json written last: the format and schema version, when and from
// which database (password masked) it was taken, and per table its
// columns, row count, file size and SHA-256. Every table of the public
// schema except goose's version table is included, read in one REPEATABLE
// READ READ ONLY transaction, so the files agree with each other. Rows
// stream from COPY through gzip and the hash to the file or a multipart
// upload: memory stays flat however large the catalog.
//
// Restore checks the manifest and streams every file fully (size, SHA-256,
// gzip integrity, row count) before it touches the database, refuses a
// backup from a newer schema, brings the target to the backup's schema
// version, then loads every table in foreign-key order in one transaction
// (TRUNCATE, COPY FROM, identity sequences reset), verifying each file
// again as it is read: any failure rolls the whole restore back. Finally
// the target is migrated up to this build's schema.
package backup
