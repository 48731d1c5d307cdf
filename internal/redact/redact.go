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
	// The password may itself hold '@' or ':': match up to the last '@'
	// before the host.
	urlPassword = regexp.MustCompile(`((?:postgres|postgresql)://[^:/@\s]*:)[^\s"'/]*@`)
	kvPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)
)

// URL returns the connection string with its password replaced by
// xxxxx. Both URL (postgres://user:pass@host/db, or ?password=) and
// keyword/value (host=... password=...) forms are handled.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Secrets(s)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", Mask)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Secrets masks every connection-string password found anywhere in
// free text, such as an error message that quotes a URL.
func Secrets(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+Mask+"@")
	return kvPassword.ReplaceAllString(s, "${1}"+Mask)
}
