// Package config holds the pipeline's default configuration files and the
// JSON Schemas that validate them, embedded in every binary. Loading and
// validation live in internal/settings.
package config

import "embed"

// Files are the default configuration files and their schemas
// (schema/<name>.schema.json).
//
//go:embed *.json schema/*.json
var Files embed.FS
