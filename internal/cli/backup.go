package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/backup"
	"github.com/scentmatch/pipeline/internal/control"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
	"github.com/scentmatch/pipeline/internal/verify"
)

// backupRoot is where backups live by default: $BACKUP_LOCATION, else
// $SCENTMATCH_HOME/backups.
func (c *CLI) backupRoot(g *globals) (string, error) {
	if loc := c.Getenv(backup.EnvLocation); loc != "" {
		return loc, nil
	}
	dir, err := g.env.Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "backups"), nil
}

// openStore opens a backup location, with an S3 client when it needs one.
func (c *CLI) openStore(ctx context.Context, g *globals, location string) (backup.Store, backup.S3API, error) {
	var client backup.S3API
	if strings.HasPrefix(location, "s3://") {
		cfg, err := g.env.AWS(ctx)
		if err != nil {
			return nil, nil, err
		}
		client = s3.NewFromConfig(cfg)
	}
	store, err := backup.OpenStore(location, client)
	if err != nil {
		return nil, nil, usage("%v", err)
	}
	return store, client, nil
}

func (c *CLI) backupCommand(g *globals) *cobra.Command {
	var to string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backup [--to DIR | --to s3://bucket/prefix]",
		Short: "Back up every table to gzip-compressed COPY files with a manifest",
		Long: `Back up the database: every table of the public schema (goose's aside),
read in one REPEATABLE READ snapshot, streamed as <table>.copy.gz files
(PostgreSQL COPY text, gzip) with a manifest.json written last: schema
version, and per table the columns, rows, size and SHA-256. Memory stays
flat however large the catalog.

Without --to the backup goes to $BACKUP_LOCATION/<timestamp>/ (in AWS
s3://<bucket>/backups/, the BucketName output), else
$SCENTMATCH_HOME/backups/<timestamp>/; then only the newest
retention.backups_keep (monitoring_config.json, 12) timestamped backups
there are kept: older ones are deleted, manifest first. Backups under other
names (--to) are never deleted. Restore one with
'scentmatch restore --from LOCATION'.`,
		Example: `  scentmatch backup
  scentmatch backup --to /mnt/backups/before-reimport
  scentmatch backup --to s3://$BUCKET/backups/manual-20260314 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			created := false
			root := ""
			if to == "" {
				var err error
				if root, err = c.backupRoot(g); err != nil {
					return err
				}
				to = backup.Join(root, backup.TimestampName(time.Now()))
				created = !strings.HasPrefix(to, "s3://")
			}
			store, client, err := c.openStore(ctx, g, to)
			if err != nil {
				return err
			}
			if _, err := backup.ReadManifest(ctx, store); err == nil {
				return usage("%s already holds a backup: choose another --to", store.Location())
			}
			pool, db, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: 2})
			if err != nil {
				return err
			}
			defer pool.Close()
			bar := newProgress(c.Stderr, c.Terminal && !asJSON, "backing up", 0)
			m, err := backup.Backup(ctx, pool, store, backup.Options{Source: redact.URL(db.URL), Logger: g.logger,
				Progress: func(p backup.Progress) {
					bar.total = p.Total
					bar.relabel(fmt.Sprintf("backing up %s (%d/%d)", p.Table, p.TableIndex, p.Tables))
					bar.update(int(p.Rows), p.Rows)
				}})
			bar.done()
			if err != nil {
				if created {
					os.RemoveAll(store.Location())
				} else {
					err = fmt.Errorf("%w\n%s holds an incomplete backup (no manifest): delete it", err, store.Location())
				}
				return err
			}
			pruned := []string{}
			if root != "" {
				pruned = c.pruneBackups(ctx, g, root, client)
			}
			if asJSON {
				return c.printJSON(map[string]any{"location": store.Location(), "manifest": m, "pruned": pruned})
			}
			w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "table\trows\tbytes\t")
			for _, t := range m.Tables {
				fmt.Fprintf(w, "%s\t%d\t%d\t\n", t.Table, t.Rows, t.Bytes)
			}
			w.Flush()
			fmt.Fprintf(c.Stdout, "Backed up %d tables, %d rows (%s) at schema version %d to %s\n",
				len(m.Tables), m.TotalRows(), humanBytes(m.TotalBytes()), m.SchemaVersion, store.Location())
			for _, p := range pruned {
				fmt.Fprintf(c.Stdout, "Deleted the older backup %s (retention.backups_keep)\n", p)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "backup directory or s3://bucket/prefix (default: a new timestamped one under $BACKUP_LOCATION or $SCENTMATCH_HOME/backups)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest as JSON (and no progress)")
	return cmd
}

// pruneBackups keeps the newest retention.backups_keep timestamped backups
// under root after a backup there; the backup is taken, so a failure is
// a warning.
func (c *CLI) pruneBackups(ctx context.Context, g *globals, root string, client backup.S3API) []string {
	cfg, err := g.env.LoadConfig(ctx)
	pruned := []string{}
	if err == nil {
		var deleted []string
		deleted, err = backup.Prune(ctx, root, client, cfg.Monitoring.Retention.BackupsKeep)
		pruned = append(pruned, deleted...)
	}
	if err != nil {
		g.logger.WarnContext(ctx, "older backups not pruned", "root", root, "err", err)
	}
	return pruned
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// restoreReport is restore's --json output.
type restoreReport struct {
	Location   string                `json:"location"`
	VerifyOnly bool                  `json:"verify_only"`
	Valid      bool                  `json:"valid"`
	Manifest   *backup.Manifest      `json:"manifest,omitempty"`
	Files      []backup.FileCheck    `json:"files,omitempty"`
	Problems   []backup.Problem      `json:"problems,omitempty"`
	Restore    *backup.RestoreResult `json:"restore,omitempty"`
	Verify     *verify.Report        `json:"verify,omitempty"`
	Counts     []verify.TableCount   `json:"counts,omitempty"`
	Error      string                `json:"error,omitempty"`
}

func (c *CLI) restoreCommand(g *globals) *cobra.Command {
	var from string
	var verifyOnly, force, asJSON bool
	cmd := &cobra.Command{
		Use:   "restore --from DIR|s3://bucket/prefix [--verify-only] [--force]",
		Short: "Check a backup fully, then restore it in one transaction and verify the result",
		Long: `Restore a backup taken by 'scentmatch backup'.

Before touching the database every file is read fully and compared with
the manifest (missing file, truncated gzip, changed byte, row count), and
the backup's schema version with this build's: a backup from a newer
schema is refused. --verify-only stops there.

The target must be empty unless --force is given (then its rows are
replaced; the monitoring_enabled flag is kept, so restoring during a stop
does not restart the pipeline). An unmigrated or older target is first
migrated to the backup's schema version; every table is then loaded in one
transaction (all or nothing: an interrupted restore leaves the database as
it was), and the result is migrated up to this build's schema, checked
with 'scentmatch verify', and its counts printed against the manifest.

Exit 2 when the backup is damaged or the target refuses (not empty, or at
a newer schema with data), 1 when the database fails or verify finds
violations after the restore.`,
		Example: `  scentmatch restore --from .scentmatch/backups/20260301T030000Z --verify-only
  DATABASE_URL=postgres://app:pw@new-db:5432/catalog scentmatch restore --from s3://$BUCKET/backups/20260301T030000Z/
  scentmatch stop && scentmatch restore --from /mnt/backups/before-reimport --force && scentmatch start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if from == "" {
				return usage("--from DIR|s3://bucket/prefix is required\nRun 'scentmatch restore --help' for an example")
			}
			store, _, err := c.openStore(ctx, g, from)
			if err != nil {
				return err
			}
			rep := restoreReport{Location: store.Location(), VerifyOnly: verifyOnly}
			if verifyOnly {
				m, files, err := backup.Check(ctx, store, postgres.EmbeddedVersions())
				rep.Manifest, rep.Files = m, files
				return c.finishRestore(rep, err, asJSON)
			}
			cfg, err := g.env.LoadConfig(ctx)
			if err != nil {
				return err
			}
			// Restoring into an empty database migrates it first.
			pool, _, err := g.env.Connect(ctx, postgres.PoolOptions{MaxConns: postgres.MigrationPoolConns})
			if err != nil {
				return err
			}
			defer pool.Close()
			bar := newProgress(c.Stderr, c.Terminal && !asJSON, "restoring", 0)
			res, err := backup.Restore(ctx, pool, store, backup.RestoreOptions{Force: force, KeepSettings: control.SettingKeys, Logger: g.logger,
				Progress: func(p backup.Progress) {
					bar.total = p.Total
					bar.relabel(fmt.Sprintf("restoring %s (%d/%d)", p.Table, p.TableIndex, p.Tables))
					bar.update(int(p.Rows), p.Rows)
				}})
			bar.done()
			rep.Restore = res
			if err != nil {
				return c.finishRestore(rep, err, asJSON)
			}
			m, err := backup.ReadManifest(ctx, store)
			if err != nil {
				return err
			}
			rep.Manifest = m
			e := cfg.Monitoring.Embedding
			if rep.Verify, err = verify.Run(ctx, pool, verify.Options{Model: e.Model, Dimension: e.Dimension}); err != nil {
				return err
			}
			if rep.Counts, err = verify.Counts(ctx, pool, m); err != nil {
				return err
			}
			return c.finishRestore(rep, nil, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "backup directory or s3://bucket/prefix (required)")
	f.BoolVar(&verifyOnly, "verify-only", false, "check every file and the schema version, restore nothing")
	f.BoolVar(&force, "force", false, "replace the contents of a non-empty database")
	f.BoolVar(&asJSON, "json", false, "print JSON (and no progress)")
	return cmd
}

// finishRestore prints the outcome and picks the exit code.
func (c *CLI) finishRestore(rep restoreReport, err error, asJSON bool) error {
	var invalid *backup.InvalidError
	var notEmpty *backup.NotEmptyError
	var conflict *backup.SchemaConflictError
	code := 0
	switch {
	case err == nil:
		rep.Valid = true
		if rep.Verify != nil && !rep.Verify.OK {
			code = ExitFailure
		}
	case errors.As(err, &invalid):
		rep.Problems = invalid.Problems
		code = ExitUsage
	case errors.As(err, &notEmpty), errors.As(err, &conflict):
		rep.Valid = true
		code = ExitUsage
	default:
		return err
	}
	if err != nil {
		rep.Error = err.Error()
	}
	if asJSON {
		if perr := c.printJSON(rep); perr != nil {
			return perr
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	}
	if len(rep.Files) > 0 {
		w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "file\trows\tbytes\tcheck")
		for _, f := range rep.Files {
			state := "ok"
			if !f.OK {
				state = "FAILED: " + f.Reason
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", f.File, f.Rows, f.Bytes, state)
		}
		w.Flush()
	}
	if err != nil {
		return &exitError{code: code, err: err}
	}
	if rep.VerifyOnly {
		fmt.Fprintf(c.Stdout, "Backup %s is intact: %d tables, %d rows, schema version %d. Nothing was restored.\n",
			rep.Location, len(rep.Manifest.Tables), rep.Manifest.TotalRows(), rep.Manifest.SchemaVersion)
		return nil
	}
	r := rep.Restore
	fmt.Fprintf(c.Stdout, "Restored %s (schema version %d) in %.1f s; the database is at schema version %d.\n",
		rep.Location, r.BackupSchema, r.Seconds, r.SchemaVersion)
	if len(r.Replaced) > 0 {
		fmt.Fprintf(c.Stdout, "Replaced the previous contents (--force).\n")
	}
	if len(r.KeptSettings) > 0 {
		fmt.Fprintf(c.Stdout, "Kept this database's %s.\n", strings.Join(r.KeptSettings, " and "))
	}
	c.printCounts(rep.Counts, "backup")
	c.printVerify(rep.Verify)
	if code != 0 {
		return &exitError{code: code, err: errors.New("the backup was restored, but verify found violations (listed above)")}
	}
	return nil
}

// printCounts prints each table's rows against a backup's.
func (c *CLI) printCounts(counts []verify.TableCount, what string) {
	if len(counts) == 0 {
		return
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "table\trows\t%s\tdifference\t\n", what)
	for _, tc := range counts {
		switch {
		case tc.Missing:
			fmt.Fprintf(w, "%s\tmissing\t%d\t\t\n", tc.Table, *tc.BackupRows)
		case tc.BackupRows == nil:
			fmt.Fprintf(w, "%s\t%d\t-\t\t\n", tc.Table, tc.Rows)
		default:
			fmt.Fprintf(w, "%s\t%d\t%d\t%+d\t\n", tc.Table, tc.Rows, *tc.BackupRows, tc.Rows-*tc.BackupRows)
		}
	}
	w.Flush()
}
