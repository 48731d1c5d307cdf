// Package redact masks secrets (connection-string passwords) wherever text
// may reach a log, an error message or a report.
package redact

import (
	"net/url"
	"regexp"
)

// Mask is what a password is replaced with wherever a connection string is shown.
const Mask = "xxxxx"

var (
	urlPassword = regexp.MustCompile(`((?:postgres|postgresql)://[^:/@\s]*:)[^@\s]*@`)
	kvPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
)

// URL returns the connection string with its password replaced by
// xxxxx. Both URL (postgres://user:pass@host/db) and keyword/value
// (host=... password=...) forms are handled.
func URL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
			q := u.Query()
			if q.Has("password") {
				q.Set("password", Mask)
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
	}
	return Secrets(s)
}

// Secrets masks every connection-string password found anywhere in
// free text, such as an error message that quotes a URL.
func Secrets(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+Mask+"@")
	return kvPassword.ReplaceAllString(s, "${1}"+Mask)
}
