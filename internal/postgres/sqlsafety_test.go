package postgres_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sqlBuiltFromValues lists the reviewed places that put something other
// than a $n parameter into SQL text, by file and function, with the reason
// it is safe. A new finding fails TestSQLIsParameterised: pass the value
// as a parameter instead, or quote an identifier with
// pgx.Identifier{...}.Sanitize() and add the place here with its reason.
var sqlBuiltFromValues = map[string]string{
	"internal/embedding/similar.go:nearestHNSW":        "%d is postgres.VectorIndexDimension, a constant; vector(N) takes no parameter",
	"internal/postgres/migrations_go.go:vectorIndexUp": "%d is VectorIndexDimension, a constant, in DDL (no parameters there)",
	"internal/backup/restore.go:load":                  "SET LOCAL takes no parameter; %d is an int64 (the lock timeout in milliseconds)",
	"internal/backup/restore.go:resetSequences":        "column and table names from the catalog, quoted with pgx.Identifier.Sanitize",
	"internal/backup/restore.go:Restore":               "ANALYZE of table names, each quoted with pgx.Identifier.Sanitize",
	"internal/backup/restore.go:loadTable":             "COPY target from copyTarget: table and columns quoted with pgx.Identifier.Sanitize",
	"internal/backup/backup.go:backupTable":            "COPY target from copyTarget: table and columns quoted with pgx.Identifier.Sanitize",
	"internal/verify/verify.go:foreignKeyChecks":       "table and column names from pg_constraint, quoted with pgx.Identifier.Sanitize; the message is the $1 parameter",
}

// sqlStart matches text that begins an SQL statement (the code writes SQL
// keywords in capitals; prose does not).
var sqlStart = regexp.MustCompile(`(?s)^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER|TRUNCATE|COPY|SET|VACUUM|ANALYZE|GRANT|REVOKE|LOCK|CLUSTER|REINDEX|COMMENT|DO|CALL|EXPLAIN)\b`)

// sqlInside matches SQL clauses in the middle of a fragment.
var sqlInside = regexp.MustCompile(`\b(FROM|WHERE|VALUES|JOIN|ORDER BY|GROUP BY|LIMIT|RETURNING|ON CONFLICT|SET)\s`)

// formatVerb matches a fmt verb (not %%).
var formatVerb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[svdqxXfgetTbcoU]`)

type sqlFinding struct {
	where, what string
}

// TestSQLIsParameterised reads every non-test Go file of the module and
// flags SQL text built from values: fmt.Sprintf with an SQL format that
// has verbs, and string concatenation of SQL with anything other than
// constants and identifiers quoted by pgx.Identifier.Sanitize(). Values go
// to the database as $n parameters (or COPY); the reviewed exceptions are
// in sqlBuiltFromValues.
func TestSQLIsParameterised(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var findings []sqlFinding
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		files++
		findings = append(findings, scanSQL(t, path, filepath.ToSlash(rel), packageConsts(t, filepath.Dir(path)))...)
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 50, "the walk found the sources")

	seen := map[string]bool{}
	var unreviewed []string
	for _, f := range findings {
		seen[f.where] = true
		if _, ok := sqlBuiltFromValues[f.where]; !ok {
			unreviewed = append(unreviewed, f.where+": "+f.what)
		}
	}
	sort.Strings(unreviewed)
	require.Empty(t, unreviewed, "SQL built from values: use $n parameters, or quote identifiers with pgx.Identifier.Sanitize and add a reviewed entry")
	for where := range sqlBuiltFromValues {
		require.True(t, seen[where], "sqlBuiltFromValues[%q] no longer matches anything: remove it", where)
	}
}

// scanSQL returns the findings of one file, each named file:function.
func scanSQL(t *testing.T, path, rel string, consts map[string]bool) []sqlFinding {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	var out []sqlFinding
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		where := rel + ":" + fn.Name.Name
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch e := n.(type) {
			case *ast.CallExpr:
				if isSel(e.Fun, "fmt", "Sprintf") && len(e.Args) > 1 {
					if s, ok := stringLit(e.Args[0]); ok && (sqlStart.MatchString(s) || sqlInside.MatchString(s)) && formatVerb.MatchString(strings.ReplaceAll(s, "%%", "")) {
						out = append(out, sqlFinding{where, fmt.Sprintf("line %d: fmt.Sprintf(%.40q...)", fset.Position(e.Pos()).Line, s)})
					}
				}
			case *ast.BinaryExpr:
				if e.Op != token.ADD {
					return true
				}
				operands := flattenAdd(e)
				isSQL := false
				for _, o := range operands {
					if s, ok := stringLit(o); ok && (sqlStart.MatchString(s) || sqlInside.MatchString(s)) {
						isSQL = true
					}
				}
				if !isSQL {
					return true
				}
				for _, o := range operands {
					if !safeOperand(o, consts) {
						out = append(out, sqlFinding{where, fmt.Sprintf("line %d: SQL concatenated with %s", fset.Position(o.Pos()).Line, exprString(o))})
						break
					}
				}
				return false // the chain is checked as a whole
			}
			return true
		})
	}
	return out
}

var constsByDir = map[string]map[string]bool{}

// packageConsts returns the names of the package-level constants declared
// in dir's Go files (a constant is SQL text fixed at build time).
func packageConsts(t *testing.T, dir string) map[string]bool {
	t.Helper()
	if c, ok := constsByDir[dir]; ok {
		return c
	}
	consts := map[string]bool{}
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, path := range paths {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	constsByDir[dir] = consts
	return consts
}

func isSel(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == pkg && sel.Sel.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func flattenAdd(e ast.Expr) []ast.Expr {
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		return append(flattenAdd(b.X), flattenAdd(b.Y)...)
	}
	if p, ok := e.(*ast.ParenExpr); ok {
		return flattenAdd(p.X)
	}
	return []ast.Expr{e}
}

// safeOperand: a literal, a constant of the file, or an identifier quoted
// by pgx (something.Sanitize()).
func safeOperand(e ast.Expr, consts map[string]bool) bool {
	if _, ok := stringLit(e); ok {
		return true
	}
	switch x := e.(type) {
	case *ast.Ident:
		return consts[x.Name]
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sanitize" && len(x.Args) == 0 {
			return true
		}
	}
	return false
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.CallExpr:
		return exprString(x.Fun) + "(...)"
	case *ast.IndexExpr:
		return exprString(x.X) + "[...]"
	}
	return fmt.Sprintf("%T", e)
}
