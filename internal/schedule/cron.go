// Package schedule parses the six-field cron expressions of EventBridge
// Scheduler (cron(minutes hours day-of-month month day-of-week year)) and
// computes when they next fire, so that the local configuration and the
// template parameter mean the same thing.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Default is the weekly cycle's schedule: Sunday 02:00.
const Default = "cron(0 2 ? * SUN *)"

// Cron is a parsed AWS cron expression.
type Cron struct {
	expr    string
	minutes set
	hours   set
	months  set
	years   set
	dom     dayRule
	dow     dayRule
}

type set map[int]bool

// dayRule is a day-of-month or day-of-week field, with AWS's L, W and #.
type dayRule struct {
	any     bool // "?" or "*"
	values  set
	last    bool // L alone: last day of month / Saturday (dow)
	lastDow int  // dow "5L": last Thursday
	weekday int  // dom "15W": nearest weekday to the 15th
	nthDow  int  // dow "6#3": third Friday (nthDow=6, nth=3)
	nth     int
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

// Parse reads "cron(m h dom mon dow year)". The error says which field is
// wrong and why.
func Parse(expr string) (*Cron, error) {
	s := strings.TrimSpace(expr)
	if !strings.HasPrefix(s, "cron(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("%q is not an AWS cron expression: write cron(minutes hours day-of-month month day-of-week year), e.g. %s", expr, Default)
	}
	fields := strings.Fields(s[len("cron(") : len(s)-1])
	if len(fields) != 6 {
		return nil, fmt.Errorf("%q has %d fields, AWS cron needs 6: minutes hours day-of-month month day-of-week year, e.g. %s", expr, len(fields), Default)
	}
	c := &Cron{expr: s}
	var err error
	if c.minutes, err = parseSet(fields[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes field %q: %w", fields[0], err)
	}
	if c.hours, err = parseSet(fields[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours field %q: %w", fields[1], err)
	}
	if c.dom, err = parseDOM(fields[2]); err != nil {
		return nil, fmt.Errorf("day-of-month field %q: %w", fields[2], err)
	}
	if c.months, err = parseSet(fields[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month field %q: %w", fields[3], err)
	}
	if c.dow, err = parseDOW(fields[4]); err != nil {
		return nil, fmt.Errorf("day-of-week field %q: %w", fields[4], err)
	}
	if c.years, err = parseSet(fields[5], 1970, 2199, nil); err != nil {
		return nil, fmt.Errorf("year field %q: %w", fields[5], err)
	}
	domQ, dowQ := fields[2] == "?", fields[4] == "?"
	if domQ == dowQ {
		return nil, fmt.Errorf("%q: exactly one of day-of-month and day-of-week must be ?, e.g. %s", expr, Default)
	}
	return c, nil
}

// String returns the expression as written.
func (c *Cron) String() string { return c.expr }

func parseSet(field string, lo, hi int, names map[string]int) (set, error) {
	out := set{}
	for _, part := range strings.Split(field, ",") {
		if part == "" {
			return nil, fmt.Errorf("empty list item")
		}
		rangePart, stepPart, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepPart)
			if err != nil || n < 1 || n > hi-lo+1 {
				return nil, fmt.Errorf("step %q must be a number from 1 to %d", stepPart, hi-lo+1)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rangePart == "*":
		case strings.Contains(rangePart, "-"):
			a, b, _ := strings.Cut(rangePart, "-")
			var err error
			if from, err = value(a, lo, hi, names); err != nil {
				return nil, err
			}
			if to, err = value(b, lo, hi, names); err != nil {
				return nil, err
			}
			if from > to {
				return nil, fmt.Errorf("range %s runs backwards", rangePart)
			}
		default:
			v, err := value(rangePart, lo, hi, names)
			if err != nil {
				return nil, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			out[v] = true
		}
	}
	return out, nil
}

func value(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is outside %d-%d", v, lo, hi)
	}
	return v, nil
}

func parseDOM(field string) (dayRule, error) {
	switch {
	case field == "?" || field == "*":
		return dayRule{any: true}, nil
	case field == "L":
		return dayRule{last: true}, nil
	case strings.HasSuffix(field, "W"):
		v, err := value(strings.TrimSuffix(field, "W"), 1, 31, nil)
		if err != nil {
			return dayRule{}, err
		}
		return dayRule{weekday: v}, nil
	}
	s, err := parseSet(field, 1, 31, nil)
	return dayRule{values: s}, err
}

func parseDOW(field string) (dayRule, error) {
	switch {
	case field == "?" || field == "*":
		return dayRule{any: true}, nil
	case field == "L":
		return dayRule{lastDow: 7}, nil
	case strings.HasSuffix(field, "L"):
		v, err := value(strings.TrimSuffix(field, "L"), 1, 7, dayNames)
		return dayRule{lastDow: v}, err
	case strings.Contains(field, "#"):
		d, n, _ := strings.Cut(field, "#")
		v, err := value(d, 1, 7, dayNames)
		if err != nil {
			return dayRule{}, err
		}
		k, err := strconv.Atoi(n)
		if err != nil || k < 1 || k > 5 {
			return dayRule{}, fmt.Errorf("%q: the number after # must be 1-5", field)
		}
		return dayRule{nthDow: v, nth: k}, nil
	}
	s, err := parseSet(field, 1, 7, dayNames)
	return dayRule{values: s}, err
}

// matchesDay reports whether the calendar day d fires.
func (c *Cron) matchesDay(d time.Time) bool {
	if !c.years[d.Year()] || !c.months[int(d.Month())] {
		return false
	}
	last := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, d.Location()).Day()
	dow := int(d.Weekday()) + 1 // AWS: SUN=1
	switch r := c.dom; {
	case r.any:
	case r.last:
		if d.Day() != last {
			return false
		}
	case r.weekday > 0:
		if d.Day() != nearestWeekday(d, r.weekday, last) {
			return false
		}
	default:
		if !r.values[d.Day()] {
			return false
		}
	}
	switch r := c.dow; {
	case r.any:
	case r.lastDow > 0:
		return dow == r.lastDow && d.Day()+7 > last
	case r.nthDow > 0:
		return dow == r.nthDow && (d.Day()-1)/7+1 == r.nth
	default:
		return r.values[dow]
	}
	return true
}

func nearestWeekday(d time.Time, target, last int) int {
	if target > last {
		target = last
	}
	t := time.Date(d.Year(), d.Month(), target, 0, 0, 0, 0, d.Location())
	switch t.Weekday() {
	case time.Saturday:
		if target == 1 {
			return 3
		}
		return target - 1
	case time.Sunday:
		if target == last {
			return target - 2
		}
		return target + 1
	}
	return target
}

// Next returns the first firing strictly after t, in loc; ok is false when
// the expression never fires again (a past year).
func (c *Cron) Next(t time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc).Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for i := 0; i < 366*5; i++ {
		if c.matchesDay(day) {
			for h := 0; h < 24; h++ {
				if !c.hours[h] {
					continue
				}
				for m := 0; m < 60; m++ {
					if !c.minutes[m] {
						continue
					}
					at := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
					if !at.Before(t) {
						return at, true
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}, false
}
