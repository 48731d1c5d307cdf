package crawl

import (
	"context"
	"errors"
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
