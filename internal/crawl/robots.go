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

// maxRobotsRedirects is how many consecutive redirects a robots.txt
// request follows (RFC 9309 §2.3.1.2: at least five). Only robots.txt:
// a catalog page's redirect is never followed.
const maxRobotsRedirects = 5

// RobotsProbe is what one fetch of robots.txt found.
type RobotsProbe struct {
	// URL is the robots.txt finally read (after redirects).
	URL       string
	Status    int
	Redirects int
	// Body is robots.txt when Status is 2xx.
	Body []byte
}

// fetchRobots GETs /robots.txt through the polite client (user agent,
// spacing, budget, timeouts, retries), following up to
// maxRobotsRedirects redirects, each a request of its own. A probe whose
// Status is still 3xx ran out of redirects or had no usable Location.
func (c *Client) fetchRobots(ctx context.Context) (RobotsProbe, error) {
	u, _ := c.resolve("/robots.txt")
	header := http.Header{}
	header.Set("Accept", "text/plain")
	var p RobotsProbe
	for {
		resp, err := c.do(ctx, u, header)
		p.URL = u.String()
		if err != nil {
			return p, err
		}
		p.Status, p.Body = resp.status, resp.body
		if resp.status < 300 || resp.status >= 400 || resp.status == http.StatusNotModified || p.Redirects == maxRobotsRedirects {
			return p, nil
		}
		next, err := u.Parse(resp.header.Get("Location"))
		if err != nil || resp.header.Get("Location") == "" || (next.Scheme != "http" && next.Scheme != "https") {
			return p, nil
		}
		c.logger.InfoContext(ctx, "robots.txt redirected; following", "source", c.cfg.Source, "from", u.String(), "to", next.String())
		u = next
		p.Redirects++
	}
}

// ProbeRobots fetches robots.txt once, as ensureRobots would, without
// keeping its rules: the health check's request.
func (c *Client) ProbeRobots(ctx context.Context) (RobotsProbe, error) {
	return c.fetchRobots(ctx)
}

// ensureRobots fetches robots.txt once, before the first other request.
// Per the robots.txt standard (RFC 9309): up to five redirects are
// followed; a 4xx means no rules; a 5xx or an unreachable file after the
// retries means disallow everything; more redirects than that, or a file
// that does not parse, is treated as disallow everything too (we would
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
	p, err := c.fetchRobots(ctx)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("fetching %s: %w", p.URL, ctx.Err())
	case errors.Is(err, ErrBudgetExhausted):
		// Nothing was sent (an earlier client of the cycle spent the
		// budget): the rules stay unknown, and no page is fetched either.
		return err
	case err != nil:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt could not be fetched (%v): treated as disallow all", err)
	case p.Status >= 500:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt answered %d: treated as disallow all", p.Status)
	case p.Status >= 300 && p.Status < 400 && p.Redirects == maxRobotsRedirects:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt redirected more than %d times (last at %s): treated as disallow all", maxRobotsRedirects, p.URL)
	case p.Status >= 300 && p.Status < 400:
		c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt answered %d at %s without a usable Location: treated as disallow all", p.Status, p.URL)
	default:
		data, perr := robotstxt.FromStatusAndBytes(p.Status, p.Body)
		if perr != nil {
			c.robots, c.robotsReason = disallowAll(), fmt.Sprintf("robots.txt (HTTP %d) does not parse (%v): treated as disallow all", p.Status, perr)
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
