package backup

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Format identifies a backup's layout.
const (
	FormatName    = "scentmatch-backup"
	FormatVersion = 1
	// Encoding is how each table file is written.
	Encoding     = "postgresql-copy-text+gzip"
	ManifestFile = "manifest.json"
)

// Manifest describes one backup; it is written after every table file.
type Manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	SchemaVersion int64     `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Source is the database backed up, password masked.
	Source        string `json:"source"`
	ServerVersion string `json:"server_version,omitempty"`
	Encoding      string `json:"encoding"`
	// Tables are in restore order: a table after every table it references.
	Tables []TableFile `json:"tables"`
}

// TableFile is one table's file.
type TableFile struct {
	Table   string   `json:"table"`
	File    string   `json:"file"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	// Bytes and SHA256 describe the file as stored (compressed).
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// TotalRows sums the rows of every table.
func (m *Manifest) TotalRows() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// TotalBytes sums the size of every file.
func (m *Manifest) TotalBytes() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Bytes
	}
	return n
}

// Table returns the entry for table, if the backup has one.
func (m *Manifest) Table(name string) (TableFile, bool) {
	for _, t := range m.Tables {
		if t.Table == name {
			return t, true
		}
	}
	return TableFile{}, false
}

var (
	safeName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	safeFile = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.copy\.gz$`)
	hexHash  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseManifest decodes and checks a manifest: a problem names the field.
func parseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a backup manifest: %w", err)
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("format %q: not a ScentMatch backup manifest (want %q)", m.Format, FormatName)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("format_version %d: this build reads version %d only", m.FormatVersion, FormatVersion)
	}
	if m.Encoding != Encoding {
		return nil, fmt.Errorf("encoding %q: this build reads %q only", m.Encoding, Encoding)
	}
	if m.SchemaVersion <= 0 {
		return nil, fmt.Errorf("schema_version %d: must be a migration version", m.SchemaVersion)
	}
	if len(m.Tables) == 0 {
		return nil, fmt.Errorf("tables: empty")
	}
	seen := map[string]bool{}
	for i, t := range m.Tables {
		switch {
		case !safeName.MatchString(t.Table):
			return nil, fmt.Errorf("tables[%d].table %q: not a plain table name", i, t.Table)
		case seen[t.Table]:
			return nil, fmt.Errorf("tables[%d].table %q: listed twice", i, t.Table)
		case !safeFile.MatchString(t.File):
			return nil, fmt.Errorf("tables[%d].file %q: want <table>.copy.gz", i, t.File)
		case len(t.Columns) == 0:
			return nil, fmt.Errorf("tables[%d].columns: empty", i)
		case t.Rows < 0 || t.Bytes <= 0:
			return nil, fmt.Errorf("tables[%d]: rows %d, bytes %d", i, t.Rows, t.Bytes)
		case !hexHash.MatchString(t.SHA256):
			return nil, fmt.Errorf("tables[%d].sha256 %q: want 64 hex digits", i, t.SHA256)
		}
		for _, c := range t.Columns {
			if !safeName.MatchString(c) {
				return nil, fmt.Errorf("tables[%d].columns: %q is not a plain column name", i, c)
			}
		}
		seen[t.Table] = true
	}
	return &m, nil
}
