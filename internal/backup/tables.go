package backup

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// versionTable is goose's bookkeeping table; the manifest's schema
// version stands in for it.
const versionTable = "goose_db_version"

// table is one table of the public schema.
type table struct {
	Name    string
	Columns []string // stored columns, in order (generated columns excluded)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// listTables returns every ordinary table of the public schema except
// goose's, parents before the tables that reference them.
func listTables(ctx context.Context, q querier) ([]table, error) {
	rows, err := q.Query(ctx, `SELECT c.relname::text,
			array_agg(a.attname::text ORDER BY a.attnum)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> $1
		GROUP BY c.relname`, versionTable)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	byName := map[string]table{}
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.Name, &t.Columns); err != nil {
			rows.Close()
			return nil, fmt.Errorf("listing tables: %w", err)
		}
		byName[t.Name] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	edges, err := foreignKeys(ctx, q)
	if err != nil {
		return nil, err
	}
	for child, parents := range impliedReferences {
		edges[child] = append(edges[child], parents...)
	}
	order, err := dependencyOrder(byName, edges)
	if err != nil {
		return nil, err
	}
	out := make([]table, 0, len(order))
	for _, n := range order {
		out = append(out, byName[n])
	}
	return out, nil
}

// impliedReferences are references the rows follow that the schema no
// longer declares (dropped for the import's speed: migrations 00012 and
// 00017; internal/verify checks them): backups keep parents first for
// them too, so that a backup reads in the same order as before.
var impliedReferences = map[string][]string{
	"fragrance_keys":    {"fragrances"},
	"source_identities": {"fragrances"},
	"fragrances":        {"import_runs"},
}

// foreignKeys maps each table to the tables it references.
func foreignKeys(ctx context.Context, q querier) (map[string][]string, error) {
	rows, err := q.Query(ctx, `SELECT cl.relname::text, pl.relname::text
		FROM pg_constraint k
		JOIN pg_class cl ON cl.oid = k.conrelid
		JOIN pg_class pl ON pl.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		WHERE k.contype = 'f' AND n.nspname = 'public'`)
	if err != nil {
		return nil, fmt.Errorf("listing foreign keys: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, fmt.Errorf("listing foreign keys: %w", err)
		}
		if child != parent {
			out[child] = append(out[child], parent)
		}
	}
	return out, rows.Err()
}

// dependencyOrder sorts tables so that each comes after every table it
// references (ties by name, so the order is stable).
func dependencyOrder(tables map[string]table, refs map[string][]string) ([]string, error) {
	done := map[string]bool{}
	var order []string
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for len(order) < len(names) {
		progressed := false
		for _, n := range names {
			if done[n] {
				continue
			}
			ready := true
			for _, p := range refs[n] {
				if _, ok := tables[p]; ok && !done[p] {
					ready = false
					break
				}
			}
			if ready {
				done[n] = true
				order = append(order, n)
				progressed = true
			}
		}
		if !progressed {
			var left []string
			for _, n := range names {
				if !done[n] {
					left = append(left, n)
				}
			}
			return nil, fmt.Errorf("foreign keys form a cycle among %v: no load order exists", left)
		}
	}
	return order, nil
}

// copyColumns renders a table and its columns for COPY.
func copyTarget(name string, columns []string) string {
	cols := ""
	for i, c := range columns {
		if i > 0 {
			cols += ", "
		}
		cols += pgx.Identifier{c}.Sanitize()
	}
	return pgx.Identifier{"public", name}.Sanitize() + " (" + cols + ")"
}
