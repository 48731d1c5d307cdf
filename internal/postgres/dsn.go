package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Environment variables that name the database.
const (
	EnvDatabaseURL       = "DATABASE_URL"
	EnvDatabaseSecretARN = "DATABASE_SECRET_ARN"
	// EnvMigrationURL and EnvMigrationSecretARN name a direct (session)
	// connection for schema migrations, needed when DATABASE_URL goes
	// through a transaction pooler (Supabase: the direct port 5432).
	EnvMigrationURL       = "DATABASE_MIGRATION_URL"
	EnvMigrationSecretARN = "DATABASE_MIGRATION_SECRET_ARN"
)

// ErrNoDatabaseConfigured is returned by ResolveURL when neither variable is set.
var ErrNoDatabaseConfigured = errors.New("no database configured: set DATABASE_URL or DATABASE_SECRET_ARN")

// SecretGetter is the part of the Secrets Manager client ResolveURL uses.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretGetter = (*secretsmanager.Client)(nil)

// ResolveURL returns the database URL: DATABASE_URL when set, else the
// secret named by DATABASE_SECRET_ARN, which holds either a URL or the JSON
// that RDS writes for a managed secret (username, password, host, port,
// dbname). sm may be nil when no secret is configured.
func ResolveURL(ctx context.Context, getenv func(string) string, sm SecretGetter) (string, error) {
	if u := getenv(EnvDatabaseURL); u != "" {
		return u, nil
	}
	arn := getenv(EnvDatabaseSecretARN)
	if arn == "" {
		return "", ErrNoDatabaseConfigured
	}
	if sm == nil {
		return "", fmt.Errorf("%s is set but no Secrets Manager client is available", EnvDatabaseSecretARN)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("reading database secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("database secret %s has no string value", arn)
	}
	return urlFromSecret(*out.SecretString)
}

// rdsSecret is the JSON shape of an RDS-managed secret.
type rdsSecret struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     any    `json:"port"`
	DBName   string `json:"dbname"`
	URL      string `json:"url"`
	SSLMode  string `json:"sslmode"`
}

func urlFromSecret(secret string) (string, error) {
	s := strings.TrimSpace(secret)
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		return s, nil
	}
	var v rdsSecret
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", errors.New("database secret is neither a postgres:// URL nor JSON with username, password, host, port and dbname")
	}
	if v.URL != "" {
		return v.URL, nil
	}
	if v.Host == "" || v.Username == "" {
		return "", errors.New("database secret JSON lacks host or username")
	}
	host := v.Host
	if v.Port != nil {
		host = fmt.Sprintf("%s:%v", v.Host, v.Port)
	}
	if v.DBName == "" {
		v.DBName = "postgres"
	}
	if v.SSLMode == "" {
		v.SSLMode = "require"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(v.Username, v.Password), Host: host, Path: "/" + v.DBName, RawQuery: "sslmode=" + v.SSLMode}
	return u.String(), nil
}

// EnvPooling names the environment variable that says the database is
// reached through a transaction pooler (RDS Proxy, PgBouncer): "transaction".
const EnvPooling = "SCENTMATCH_DB_POOLING"

// RequireTLS adds sslmode=require to a URL that does not choose a mode, so
// a deployed function never talks to the database in clear text.
func RequireTLS(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return databaseURL
	}
	q := u.Query()
	if q.Get("sslmode") != "" {
		return databaseURL
	}
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()
	return u.String()
}

// errUnescapedUserinfo refuses a URL whose user information runs past the
// host: its password holds a '/', '?', '#' or '@' that was not
// percent-encoded. Parsed as it stands, part of the password would become
// the host, port or database name, and pgx would quote it in its errors.
var errUnescapedUserinfo = errors.New("the password (or user name) holds a '/', '?', '#' or '@' that is not percent-encoded, so where the host starts is unclear: encode them (/ as %2F, ? as %3F, # as %23, @ as %40)")

// checkUserinfo returns errUnescapedUserinfo for a postgres:// URL whose
// last '@' lies beyond the authority (the text up to the first '/', '?' or
// '#'), unless that '@' is in the query (?application_name=me@host).
func checkUserinfo(databaseURL string) error {
	_, rest, ok := strings.Cut(databaseURL, "://")
	if !ok || !strings.HasPrefix(strings.ToLower(databaseURL), "postgres") {
		return nil
	}
	at := strings.LastIndexByte(rest, '@')
	end := strings.IndexAny(rest, "/?#")
	if at < 0 || end < 0 || at < end {
		return nil
	}
	q, h := strings.IndexByte(rest, '?'), strings.IndexByte(rest, '#')
	if q >= 0 && q < at && (h < 0 || (q < h && at < h)) {
		return nil
	}
	return errUnescapedUserinfo
}
