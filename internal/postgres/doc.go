// Package postgres owns the pipeline's PostgreSQL access: connection pools,
// the embedded goose migrations, the schema-version check functions run at
// cold start, the database URL (from the environment or Secrets Manager) and
// masking of passwords wherever a connection string is shown.
package postgres
