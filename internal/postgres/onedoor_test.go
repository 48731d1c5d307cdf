package postgres_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// connectors are the calls that open a PostgreSQL connection or pool. Only
// internal/postgres/pool.go may make them: everything else reaches the
// database through postgres.Connect / postgres.ConnectOne, and application
// code through app.Database.Connect, which applies the pooling mode.
var connectors = map[string]map[string]bool{
	"pgxpool": {"New": true, "NewWithConfig": true},
	"pgx":     {"Connect": true, "ConnectConfig": true, "ConnectWithOptions": true},
	"pgconn":  {"Connect": true, "ConnectConfig": true, "ConnectWithOptions": true},
	"sql":     {"Open": true, "OpenDB": true},
	"stdlib":  {"OpenDB": true},
}

// doorCallers lists the non-test packages allowed to call
// postgres.Connect or postgres.ConnectOne themselves, and why.
var doorCallers = map[string]string{
	"internal/postgres":  "the door itself",
	"internal/app":       "app.Database.Connect: the one opening path, which reads SCENTMATCH_DB_POOLING once",
	"internal/pglocal":   "the embedded cluster's own administration (ping, CREATE DATABASE), always direct",
	"internal/dbtest":    "the test helper: databases created per test, and pools in a chosen mode",
	"internal/pgbouncer": "the test harness: Server.Warm opens the pool's server connections",
}

// TestOneWayToConnect reads every Go file of the module and fails when a
// file other than internal/postgres/pool.go opens a connection or pool
// (pgxpool.New*, pgx.Connect*, pgconn.Connect*, database/sql), or when
// non-test code outside the packages in doorCallers calls postgres.Connect
// instead of going through app.Database, so that a new command or function
// cannot forget the pooling mode.
func TestOneWayToConnect(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var findings []string
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name != "." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		isTest := strings.HasSuffix(rel, "_test.go")
		pkgDir := filepath.ToSlash(filepath.Dir(rel))
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			pos := fset.Position(sel.Pos())
			where := rel + ":" + strconv.Itoa(pos.Line)
			if connectors[pkg.Name][sel.Sel.Name] && rel != "internal/postgres/pool.go" {
				findings = append(findings, where+": "+pkg.Name+"."+sel.Sel.Name+" opens a connection outside internal/postgres/pool.go")
			}
			if pkg.Name == "postgres" && (sel.Sel.Name == "Connect" || sel.Sel.Name == "ConnectOne") && !isTest {
				if _, ok := doorCallers[pkgDir]; !ok {
					findings = append(findings, where+": postgres."+sel.Sel.Name+" outside app.Database.Connect (use env.Connect or Database.Connect, which apply SCENTMATCH_DB_POOLING)")
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 100, "the scan read too few files: wrong root?")
	sort.Strings(findings)
	require.Empty(t, findings, "open the database through app.Database.Connect (or dbtest in tests)")
}
