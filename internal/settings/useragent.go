package settings

import "strings"

// ProductToken returns the product token robots.txt groups are matched
// against (RFC 9309 §2.2.1): the name before the '/' of the user agent's
// first product, e.g. ScentMatchBot for "ScentMatchBot/1.0 (+mailto:…)".
// For a browser-style string ("Mozilla/5.0 (compatible; ScentMatchBot/1.0;
// +mailto:…)") it is the product after "compatible;" in a comment. It
// returns "" when no token can be derived: only the `User-agent: *` group
// then applies.
func ProductToken(userAgent string) string {
	products, comments := splitUserAgent(userAgent)
	for _, c := range comments {
		parts := strings.Split(c, ";")
		for i := 0; i+1 < len(parts); i++ {
			if strings.EqualFold(strings.TrimSpace(parts[i]), "compatible") {
				if t := identifier(strings.TrimSpace(parts[i+1])); t != "" {
					return t
				}
			}
		}
	}
	if len(products) == 0 || strings.EqualFold(productName(products[0]), "Mozilla") {
		return ""
	}
	return identifier(products[0])
}

// splitUserAgent splits a User-Agent value into its products and the
// contents of its parenthesized comments.
func splitUserAgent(ua string) (products, comments []string) {
	depth, start := 0, 0
	var word strings.Builder
	flush := func() {
		if w := strings.TrimSpace(word.String()); w != "" {
			products = append(products, w)
		}
		word.Reset()
	}
	for i, r := range ua {
		switch {
		case r == '(':
			if depth == 0 {
				flush()
				start = i + 1
			}
			depth++
		case r == ')' && depth > 0:
			depth--
			if depth == 0 {
				comments = append(comments, ua[start:i])
			}
		case depth > 0:
		case r == ' ' || r == '\t':
			flush()
		default:
			word.WriteRune(r)
		}
	}
	flush()
	return products, comments
}

func productName(product string) string {
	name, _, _ := strings.Cut(product, "/")
	return name
}

// identifier returns product's name when it is an RFC 9309 product token
// (letters, '-' and '_'), else "".
func identifier(product string) string {
	name := productName(product)
	if name == "" {
		return ""
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return ""
		}
	}
	return name
}
