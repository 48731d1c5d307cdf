package crawl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/temoto/robotstxt"
)

// ensureRobots fetches robots.txt once, before the first other request.
// Per the robots.txt standard (RFC 9309): a 4xx means no rules; a 5xx or
// an unreachable file after the retries means disallow everything; a file
// that does not parse is treated as disallow everything too (we would
// rather not crawl than guess).
func (c *Client) ensureRobots(ctx context.Context) error {
	if !c.cfg.RespectRobots {
		return nil
	}
	c.robotsMu.Lock()
	defer c.robotsMu.Unlock()
	if c.robotsDone {
		return nil
	}
	u, _ := c.resolve("/robots.txt")
	header := http.Header{}
	header.Set("Accept", "text/plain")
	resp, err := c.do(ctx, u, header)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("fetching %s: %w", u, ctx.Err())
	case errors.Is(err, ErrBudgetExhausted):
		// Nothing was sent (an earlier client of the cycle spent the
		// budget): the rules stay unknown, and no page is fetched either.
		return err
	case err != nil:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt could not be fetched (%v): treated as disallow all", err)
	case resp.status >= 500:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt answered %d: treated as disallow all", resp.status)
	default:
		data, perr := robotstxt.FromStatusAndBytes(resp.status, resp.body)
		if perr != nil {
			c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt (HTTP %d) does not parse (%v): treated as disallow all", resp.status, perr)
		} else {
			c.robots = data
			if g := data.FindGroup(c.token); g != nil && g.CrawlDelay > 0 {
				c.applyCrawlDelay(g.CrawlDelay)
			}
		}
	}
	c.robotsDone = true
	return nil
}

// applyCrawlDelay raises the spacing to robots.txt's Crawl-delay when
// that is longer than the configured one.
func (c *Client) applyCrawlDelay(d time.Duration) {
	if d <= c.cfg.interval() {
		return
	}
	c.limiter.SetLimit(limitFor(d))
	c.mu.Lock()
	c.spacing = d
	c.mu.Unlock()
	c.logger.Info("robots.txt asks for a longer crawl delay; spacing requests by it", "source", c.cfg.Source, "crawl_delay_ms", d.Milliseconds())
}

// disallowAll is a robots.txt that allows nothing.
func disallowAll() *robotstxt.RobotsData {
	data, _ := robotstxt.FromStatusAndBytes(http.StatusServiceUnavailable, nil)
	return data
}

// allowed says whether robots.txt lets our user agent fetch u.
func (c *Client) allowed(u *url.URL) (bool, string) {
	if !c.cfg.RespectRobots {
		return true, ""
	}
	c.robotsMu.Lock()
	defer c.robotsMu.Unlock()
	if c.robots == nil || c.robots.TestAgent(u.RequestURI(), c.token) {
		return true, ""
	}
	if c.robotsReason != "" {
		return false, c.robotsReason
	}
	if c.token == "" {
		return false, "disallowed by robots.txt for User-agent: * (no product token in user agent " + c.cfg.UserAgent + ")"
	}
	return false, "disallowed by robots.txt for " + c.token
}

// Allowed fetches robots.txt if needed and says whether path may be
// requested, and if not why. It sends no request for path itself.
func (c *Client) Allowed(ctx context.Context, path string) (bool, string, error) {
	u, err := c.resolve(path)
	if err != nil {
		return false, "", err
	}
	if err := c.ensureRobots(ctx); err != nil {
		return false, "", err
	}
	ok, reason := c.allowed(u)
	return ok, reason, nil
}

// MarkBlocked records that robots.txt shuts the source out of everything
// the caller needs.
func (c *Client) MarkBlocked(reason string) {
	c.mu.Lock()
	c.stats.Blocked, c.stats.BlockedReason = true, reason
	c.mu.Unlock()
}
