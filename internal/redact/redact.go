// Package redact masks secrets (connection-string passwords) wherever text
// may reach a log, an error message or a report.
//
// A password that was not percent-encoded may hold any character: '/',
// '?', '#', '@', ':' and spaces included (base64 passwords hold '/', '+'
// and '='). Such a URL is malformed, and net/url either refuses it or
// splits it in the wrong place (postgres://u:12/x@h/db parses as host
// "u:12"), so the password is found by hand: it runs from the first ':' of
// the user information to the last '@'. When in doubt more is masked, never
// less.
package redact

import (
	"regexp"
	"strings"
)

// Mask is what a password is replaced with wherever a connection string is shown.
const Mask = "xxxxx"

// quotes may open (and then close) a URL quoted in free text.
const quotes = "\"'`"

var (
	scheme = regexp.MustCompile(`(?i)postgres(?:ql)?://`)
	// In free text a URL is not delimited: the password runs to its first
	// '@' (spaces included), then on to each later '@' of the same word
	// ("p@ss:w/rd@host").
	textPassword = regexp.MustCompile(`^[^@]*@(?:[^\s@"'` + "`" + `]*@)*`)
	// ?password= (or sslpassword) in a URL's query. A whole URL's value
	// runs to the next '&'; in free text it also stops at a space or quote.
	queryPassword = regexp.MustCompile(`(?i)([?&]\w*password=)[^&]*`)
	textQuery     = regexp.MustCompile(`(?i)([?&]\w*password=)[^&\s"'` + "`" + `]*`)
	// Keyword/value form: password=s3cret, password='a b' (libpq quoting,
	// \' and \\ escapes, an unterminated quote masked to the end),
	// password=a\ b; sslpassword and PGPASSWORD alike.
	kvPassword = regexp.MustCompile(`(?i)((?:^|[^?&\w])\w*password\s*=\s*)('(?:[^'\\]|\\.)*(?:'|$)|(?:[^\s\\]|\\.)+)`)
)

// URL returns the connection string with its password replaced by
// xxxxx. Both URL (postgres://user:pass@host/db, or ?password=) and
// keyword/value (host=... password=...) forms are handled. The whole of s
// is taken as one connection string: the password of a URL runs to its
// last '@'.
func URL(s string) string {
	loc := scheme.FindStringIndex(s)
	if loc == nil || loc[0] != 0 {
		return Secrets(s)
	}
	rest := s[loc[1]:]
	var b strings.Builder
	b.WriteString(s[:loc[1]])
	if from, to := passwordSpan(rest, strings.LastIndexByte); from >= 0 {
		b.WriteString(rest[:from])
		b.WriteString(Mask)
		rest = rest[to:]
	}
	b.WriteString(queryPassword.ReplaceAllString(rest, "${1}"+Mask))
	return b.String()
}

// Secrets masks every connection-string password found anywhere in
// free text, such as an error message that quotes a URL. A URL ends at
// the end of its line, where the next URL starts, and, when it follows a
// quote, at the closing quote.
func Secrets(s string) string {
	if locs := scheme.FindAllStringIndex(s, -1); locs != nil {
		var b strings.Builder
		prev := 0
		for k, loc := range locs {
			if loc[0] < prev {
				continue // inside the password just masked
			}
			end := len(s)
			if k+1 < len(locs) {
				end = locs[k+1][0]
			}
			seg := s[loc[1]:end]
			if i := strings.IndexByte(seg, '\n'); i >= 0 {
				seg = seg[:i]
			}
			lastAt := firstWordAt
			if loc[0] > 0 && strings.IndexByte(quotes, s[loc[0]-1]) >= 0 {
				if i := strings.IndexByte(seg, s[loc[0]-1]); i >= 0 {
					seg = seg[:i]
				}
				lastAt = strings.LastIndexByte
			}
			from, to := passwordSpan(seg, lastAt)
			if from < 0 {
				continue
			}
			b.WriteString(s[prev : loc[1]+from])
			b.WriteString(Mask)
			prev = loc[1] + to
		}
		b.WriteString(s[prev:])
		s = b.String()
	}
	s = textQuery.ReplaceAllString(s, "${1}"+Mask)
	return kvPassword.ReplaceAllString(s, "${1}"+Mask)
}

// passwordSpan returns where the password lies in rest, the part of a URL
// after "scheme://": from just after the ':' that ends the user name to the
// '@' that ends the user information (which atIn finds), or -1, -1 when
// there is no password.
func passwordSpan(rest string, atIn func(string, byte) int) (from, to int) {
	c := strings.IndexAny(rest, ":@/?# \t\r\n"+quotes)
	if c < 0 || rest[c] != ':' {
		return -1, -1
	}
	at := atIn(rest[c+1:], '@')
	if at < 0 {
		return -1, -1
	}
	return c + 1, c + 1 + at
}

// firstWordAt finds the '@' that ends a password in free text (see
// textPassword), -1 when there is none.
func firstWordAt(s string, _ byte) int {
	return len(textPassword.FindString(s)) - 1
}
