package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNext(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) // a Saturday
	cases := []struct {
		expr string
		want string
	}{
		{Default, "2026-11-29T02:00:00Z"},
		{"cron(0/15 * * * ? *)", "2026-11-28T10:15:00Z"},
		{"cron(30 9 1 * ? *)", "2026-12-01T09:30:00Z"},
		{"cron(0 2 L * ? *)", "2026-11-30T02:00:00Z"},
		{"cron(0 2 ? * 6L *)", "2026-12-25T02:00:00Z"},    // last Friday of December
		{"cron(0 2 ? * MON#1 *)", "2026-12-07T02:00:00Z"}, // first Monday
		{"cron(0 2 15W * ? *)", "2026-12-15T02:00:00Z"},
		{"cron(0 2 1W 8 ? 2026)", ""}, // past: never again
		{"cron(0 8 ? JAN-MAR MON-FRI 2027)", "2027-01-01T08:00:00Z"},
	}
	for _, tc := range cases {
		c, err := Parse(tc.expr)
		require.NoError(t, err, tc.expr)
		next, ok := c.Next(from, time.UTC)
		if tc.want == "" {
			require.False(t, ok, tc.expr)
			continue
		}
		require.True(t, ok, tc.expr)
		require.Equal(t, tc.want, next.Format(time.RFC3339), tc.expr)
	}
}

func TestNextInTimezone(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata for Europe/Paris on this machine")
	}
	c, err := Parse(Default)
	require.NoError(t, err)
	next, ok := c.Next(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), loc)
	require.True(t, ok)
	require.Equal(t, "2026-11-29T01:00:00Z", next.UTC().Format(time.RFC3339))
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"0 2 * * 0":                               "not an AWS cron expression",
		"cron(0 2 * * 0)":                         "has 5 fields",
		"cron(0 2 * * SUN *)":                     "exactly one of day-of-month and day-of-week must be ?",
		"cron(0 2 ? * ? *)":                       "exactly one of day-of-month and day-of-week must be ?",
		"cron(61 2 ? * SUN *)":                    "minutes field",
		"cron(0 24 ? * SUN *)":                    "hours field",
		"cron(0 2 ? 13 SUN *)":                    "month field",
		"cron(0 2 ? * FUNDAY *)":                  "day-of-week field",
		"cron(0 2 ? * 2#9 *)":                     "1-5",
		"cron(0 2 ? * SUN 1969)":                  "year field",
		"cron(0 5-2 ? * SUN *)":                   "runs backwards",
		"cron(0/0 2 ? * SUN *)":                   "step",
		"cron(0/9223372036854775807 2 ? * SUN *)": "must be a number from 1 to 60", // found by FuzzLoad: the step overflowed and looped
		"rate(7 days)":                            "not an AWS cron expression",
	}
	for expr, want := range cases {
		_, err := Parse(expr)
		require.Error(t, err, expr)
		require.Contains(t, err.Error(), want, expr)
	}
}
