package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scentmatch/pipeline/internal/pglocal"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/redact"
)

func (c *CLI) dbCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the database: migrate, status, url, start, stop",
		Example: `  scentmatch db migrate
  scentmatch db status --json
  psql "$(scentmatch db url)"
  scentmatch db stop`,
	}
	cmd.AddCommand(c.dbMigrate(g), c.dbStatus(g), c.dbURL(g), c.dbStart(g), c.dbStop(g))
	return cmd
}

func (c *CLI) dbMigrate(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations (safe to run concurrently and repeatedly)",
		Example: `  scentmatch db migrate
  DATABASE_URL=postgres://app:secret@db.internal:5432/catalog scentmatch db migrate --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, db, err := g.env.ConnectMigration(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			m, err := postgres.NewMigrator(pool, g.logger)
			if err != nil {
				return err
			}
			defer m.Close()
			res, err := m.Up(ctx)
			if err != nil {
				return err
			}
			g.logger.InfoContext(ctx, "migrations applied", "database", redact.URL(db.URL), "from", res.From, "to", res.To, "applied", len(res.Applied))
			if asJSON {
				return c.printJSON(res)
			}
			if len(res.Applied) == 0 {
				fmt.Fprintf(c.Stdout, "Schema is up to date at version %d (%s).\n", res.To, db.Describe())
				return nil
			}
			for _, s := range res.Applied {
				fmt.Fprintf(c.Stdout, "applied %d %s (%.1f ms)\n", s.Version, s.Name, s.DurationMS)
			}
			fmt.Fprintf(c.Stdout, "Schema migrated from version %d to %d (%s).\n", res.From, res.To, db.Describe())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// dbStatusReport is what `db status --json` prints.
type dbStatusReport struct {
	Database  string                 `json:"database"`
	URL       string                 `json:"url"`
	Embedded  *embeddedStatus        `json:"embedded,omitempty"`
	Reachable bool                   `json:"reachable"`
	Error     string                 `json:"error,omitempty"`
	Schema    *postgres.SchemaStatus `json:"schema,omitempty"`
}

type embeddedStatus struct {
	Running bool   `json:"running"`
	DataDir string `json:"data_dir"`
	Port    int    `json:"port"`
	LogFile string `json:"log_file"`
	OSUser  string `json:"os_user"`
}

func (c *CLI) dbStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which database is used, whether it is up and its schema version",
		Long: `Show which database is used, whether it is up, and the schema version with
each migration's state. It does not start the embedded database; exit 1 when
the database is unreachable or migrations are pending.`,
		Example: `  scentmatch db status
  scentmatch db status --json | jq .schema.pending`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rep, ok := c.collectDBStatus(ctx, g)
			if asJSON {
				if err := c.printJSON(rep); err != nil {
					return err
				}
			} else {
				c.printDBStatus(rep)
			}
			if !ok {
				return failed()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func (c *CLI) collectDBStatus(ctx context.Context, g *globals) (dbStatusReport, bool) {
	db, err := g.env.ResolveDatabase(ctx, false)
	rep := dbStatusReport{}
	if errors.Is(err, pglocal.ErrNotInitialized) {
		rep.Database = "embedded local cluster (not created yet: run `scentmatch db migrate`)"
		rep.Error = redact.Secrets(err.Error())
		return rep, false
	}
	if err != nil {
		rep.Error = redact.Secrets(err.Error())
		return rep, false
	}
	rep.Database, rep.URL = db.Describe(), redact.URL(db.URL)
	if db.Local != nil {
		rep.Embedded = &embeddedStatus{Running: db.Local.Running(), DataDir: db.Local.DataDir, Port: db.Local.Port, LogFile: db.Local.LogFile, OSUser: db.Local.OSUser}
		if !rep.Embedded.Running {
			rep.Error = "the embedded database is stopped (`scentmatch db start` starts it; most commands start it themselves)"
			return rep, false
		}
	}
	pool, err := db.Connect(ctx, postgres.PoolOptions{MaxConns: 1})
	if err != nil {
		rep.Error = redact.Secrets(err.Error())
		return rep, false
	}
	defer pool.Close()
	rep.Reachable = true
	m, err := postgres.NewMigrator(pool, g.logger)
	if err != nil {
		rep.Error = redact.Secrets(err.Error())
		return rep, false
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		rep.Error = redact.Secrets(err.Error())
		return rep, false
	}
	rep.Schema = &st
	return rep, st.Pending == 0 && st.Current <= st.Target
}

func (c *CLI) printDBStatus(rep dbStatusReport) {
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "database:\t%s\n", rep.Database)
	if rep.URL != "" {
		fmt.Fprintf(w, "url:\t%s\n", rep.URL)
	}
	if e := rep.Embedded; e != nil {
		state := "stopped"
		if e.Running {
			state = fmt.Sprintf("running on 127.0.0.1:%d as %s", e.Port, e.OSUser)
		}
		fmt.Fprintf(w, "embedded:\t%s\n", state)
		fmt.Fprintf(w, "data directory:\t%s\n", e.DataDir)
		fmt.Fprintf(w, "server log:\t%s\n", e.LogFile)
	}
	if rep.Error != "" {
		fmt.Fprintf(w, "problem:\t%s\n", rep.Error)
	}
	if st := rep.Schema; st != nil {
		fmt.Fprintf(w, "schema version:\t%d of %d (%d pending)\n", st.Current, st.Target, st.Pending)
		for _, m := range st.Migrations {
			state := "pending"
			if m.Applied && m.AppliedAt != nil {
				state = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(w, "  %d\t%s\t%s\n", m.Version, m.Name, state)
		}
	}
	w.Flush()
}

func (c *CLI) dbURL(g *globals) *cobra.Command {
	var masked bool
	cmd := &cobra.Command{
		Use:   "url",
		Short: "Print the database connection URL (starting the embedded database if needed)",
		Long: `Print the database connection URL on stdout, for psql or another client.
The URL includes the password unless --masked is given; it is never logged.`,
		Example: `  psql "$(scentmatch db url)"
  scentmatch db url --masked`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := g.env.ResolveDatabase(cmd.Context(), true)
			if err != nil {
				return err
			}
			u := db.URL
			if masked {
				u = redact.URL(u)
			}
			fmt.Fprintln(c.Stdout, u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&masked, "masked", false, "mask the password")
	return cmd
}

func (c *CLI) dbStart(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "start",
		Short:   "Start the embedded local database (creating it on first use)",
		Example: "  scentmatch db start",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.Getenv(postgres.EnvDatabaseURL) != "" {
				fmt.Fprintln(c.Stdout, "DATABASE_URL is set: the embedded database is not used.")
				return nil
			}
			db, err := g.env.ResolveDatabase(cmd.Context(), true)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "Local database running on 127.0.0.1:%d (data %s). Stop it with `scentmatch db stop`.\n", db.Local.Port, db.Local.DataDir)
			return nil
		},
	}
}

func (c *CLI) dbStop(g *globals) *cobra.Command {
	var deleteData bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the embedded local database",
		Long: `Stop the embedded local database (fast shutdown: open sessions are ended).
With --delete-data the cluster's data, socket directory and state are deleted
too, and the next command creates an empty one.`,
		Example: `  scentmatch db stop
  SCENTMATCH_HOME=/tmp/scratch scentmatch db stop --delete-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.env.Home()
			if err != nil {
				return err
			}
			cl, err := pglocal.Open(dir, g.logger)
			if errors.Is(err, pglocal.ErrNotInitialized) {
				fmt.Fprintf(c.Stdout, "No local database in %s: nothing to stop.\n", dir)
				return nil
			}
			if err != nil {
				return err
			}
			if deleteData {
				if err := cl.Destroy(cmd.Context()); err != nil {
					return err
				}
				fmt.Fprintf(c.Stdout, "Local database stopped and its data deleted (%s).\n", cl.DataDir)
				return nil
			}
			if !cl.Running() {
				fmt.Fprintln(c.Stdout, "The local database is already stopped.")
				return nil
			}
			if err := cl.Stop(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(c.Stdout, "Local database stopped.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleteData, "delete-data", false, "also delete the local database's data (irreversible)")
	return cmd
}
