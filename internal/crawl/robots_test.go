package crawl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A browser-style user agent still obeys the group of its product token
// (RFC 9309 §2.2.1), Crawl-delay included, not only User-agent: *.
func TestBrowserStyleUserAgentObeysItsProductTokenGroup(t *testing.T) {
	t.Parallel()
	const browserUA = "Mozilla/5.0 (compatible; ScentMatchBot/1.0; +mailto:ops@x)"
	up := newUpstream(t, "User-agent: *\nAllow: /\n\nUser-agent: ScentMatchBot\nDisallow: /\n", okJSON)
	cfg := testConfig(t, up.URL)
	cfg.UserAgent = browserUA
	c := New(cfg, Options{})
	ok, reason, err := c.Allowed(context.Background(), "/api/v1/fragrances?page=1")
	require.NoError(t, err)
	require.False(t, ok)
	require.Contains(t, reason, "ScentMatchBot")
	_, err = c.Fetch(context.Background(), "/api/v1/fragrances?page=1", parseJSON)
	var be *BlockedError
	require.ErrorAs(t, err, &be)
	require.Equal(t, []string{"/robots.txt"}, up.uris())
	require.Equal(t, browserUA, up.log()[0].userAgent, "the whole string is still sent")
}

func TestBrowserStyleUserAgentTakesItsGroupsCrawlDelay(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nAllow: /\n\nUser-agent: ScentMatchBot\nCrawl-delay: 0.3\nAllow: /\n", okJSON)
	cfg := testConfig(t, up.URL)
	cfg.UserAgent = "Mozilla/5.0 (compatible; ScentMatchBot/1.0; +mailto:ops@x)"
	c := New(cfg, Options{})
	for _, p := range []string{"/a", "/b"} {
		_, err := c.Fetch(context.Background(), p, parseJSON)
		require.NoError(t, err)
	}
	gaps := up.gaps()
	require.Len(t, gaps, 2)
	for _, g := range gaps {
		require.GreaterOrEqual(t, g, 300*time.Millisecond-tolerance, up.dump())
	}
}

// Without a product token, only the * group applies: a group named after
// the browser string's first product does not capture us.
func TestUserAgentWithoutTokenGetsTheStarGroup(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "User-agent: *\nDisallow: /private\n\nUser-agent: Mozilla\nDisallow: /\n", okJSON)
	cfg := testConfig(t, up.URL)
	cfg.UserAgent = "Mozilla/5.0 (X11; Linux x86_64)"
	c := New(cfg, Options{})
	_, err := c.Fetch(context.Background(), "/api/v1/fragrances", parseJSON)
	require.NoError(t, err)
	_, err = c.Fetch(context.Background(), "/private/x", parseJSON)
	var be *BlockedError
	require.True(t, errors.As(err, &be))
	require.Contains(t, be.Reason, "User-agent: *")
}

// robots.txt follows up to five redirects (RFC 9309 §2.3.1.2), each a
// request of its own; the rules found apply. Catalog pages still follow none.
func TestRobotsTxtRedirectsAreFollowedUpToFive(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/robots.txt":
			http.Redirect(w, r, "/r/1", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/r/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
			if n < 5 {
				http.Redirect(w, r, fmt.Sprintf("/r/%d", n+1), http.StatusFound)
				return
			}
			fmt.Fprint(w, "User-agent: ScentMatchBot\nDisallow: /private\n")
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/api/v1/fragrances", http.StatusMovedPermanently)
		default:
			okJSON(w, r)
		}
	})
	c := New(testConfig(t, up.URL), Options{})
	_, err := c.Fetch(context.Background(), "/api/v1/fragrances", parseJSON)
	require.NoError(t, err, "robots.txt reached after 5 redirects allows the catalog")
	_, err = c.Fetch(context.Background(), "/private/x", parseJSON)
	var be *BlockedError
	require.ErrorAs(t, err, &be, "the redirected robots.txt's rules apply")
	_, err = c.Fetch(context.Background(), "/moved", parseJSON)
	var pe *PageError
	require.ErrorAs(t, err, &pe, "a catalog page's redirect is not followed")
	require.Equal(t, []string{"/robots.txt", "/r/1", "/r/2", "/r/3", "/r/4", "/r/5", "/api/v1/fragrances", "/moved"}, up.uris())
	for _, h := range up.log() {
		require.Equal(t, userAgent, h.userAgent)
	}
	require.Equal(t, 8, c.Stats().Requests, "each redirect is a request against the budget")
}

func TestRobotsTxtRedirectingMoreThanFiveTimesIsDisallowAll(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" || strings.HasPrefix(r.URL.Path, "/r/") {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n+1), http.StatusFound)
			return
		}
		okJSON(w, r)
	})
	c := New(testConfig(t, up.URL), Options{})
	ok, reason, err := c.Allowed(context.Background(), "/api/v1/fragrances")
	require.NoError(t, err)
	require.False(t, ok)
	require.Contains(t, reason, "redirected more than 5 times")
	require.NotContains(t, reason, "does not parse")
	require.Len(t, up.uris(), 6, "robots.txt and five redirects, then no more")
}
