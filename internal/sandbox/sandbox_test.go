package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/upstream"
)

var testNow = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC) // a Sunday in 2026-W48

func get(t *testing.T, base, path string, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(body) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(body, &out), string(body))
	}
	return resp, out
}

func TestDemoCatalogKeepsFactualFieldsOnly(t *testing.T) {
	t.Parallel()
	info, err := os.Stat("data/demo-catalog.jsonl.gz")
	require.NoError(t, err)
	require.Less(t, info.Size(), int64(3<<20), "at most 3 MB compressed")
	_, err = os.Stat("data/README.md")
	require.NoError(t, err, "provenance beside the data")
	c, err := Demo()
	require.NoError(t, err)
	require.Greater(t, len(c.Fragrances), 30000)
	seen := map[string]bool{}
	for _, f := range c.Fragrances {
		require.False(t, seen[f.SourceID], "source_id %s twice", f.SourceID)
		seen[f.SourceID] = true
		require.NotEmpty(t, f.Brand)
		require.NotEmpty(t, f.Name)
	}
	// The struct is the whole record: no description or review text can hide in it.
	data, err := json.Marshal(c.Fragrances[0])
	require.NoError(t, err)
	var keys map[string]any
	require.NoError(t, json.Unmarshal(data, &keys))
	for k := range keys {
		require.Contains(t, []string{"source_id", "brand", "name", "year", "accords", "notes", "notes_flat"}, k)
	}
}

func TestAPIServesPagesRecordsAndTrending(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	resp, _ := get(t, ts.URL, "/robots.txt", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	resp, page := get(t, ts.URL, "/api/v1/fragrances?page=1&brand=Dolce%20%26%20Gabbana", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, float64(64), page["total"], "the loose brand search finds Dolce Gabbana")
	require.Len(t, page["items"], CatalogPageSize)
	require.Equal(t, float64(2), page["next_page"])
	first := page["items"].([]any)[0].(map[string]any)
	for _, k := range []string{"source_id", "brand", "name", "votes", "rating"} {
		require.Contains(t, first, k)
	}
	resp, page = get(t, ts.URL, "/api/v1/fragrances?page=2&brand=dolce+gabbana", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, page["items"], 14)
	require.Nil(t, page["next_page"])

	id := first["source_id"].(string)
	resp, rec := get(t, ts.URL, "/api/v1/fragrances/"+id, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, first, rec)
	resp, _ = get(t, ts.URL, "/api/v1/fragrances/no-such-id", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get(t, ts.URL, "/api/v1/fragrances?page=zero", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	ranks := 0
	for p := 1; ; p++ {
		resp, page := get(t, ts.URL, fmt.Sprintf("/api/v1/trending?page=%d", p), nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, it := range page["items"].([]any) {
			ranks++
			require.Equal(t, float64(ranks), it.(map[string]any)["rank"])
		}
		if page["next_page"] == nil {
			break
		}
	}
	require.Equal(t, 100, ranks)

	// Conditional requests: the same week answers 304.
	resp, _ = get(t, ts.URL, "/api/v1/trending?page=1", nil)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, _ = get(t, ts.URL, "/api/v1/trending?page=1", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
}

func TestPopularityMovesBetweenWeeksAndIsDeterministic(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	trending := func(week string) map[string]float64 {
		_, page := get(t, ts.URL, "/api/v1/trending?page=1&week="+week, nil)
		out := map[string]float64{}
		for _, it := range page["items"].([]any) {
			m := it.(map[string]any)
			out[m["source_id"].(string)] = m["votes"].(float64)
		}
		return out
	}
	w47, w48 := trending("2026-W47"), trending("2026-W48")
	require.Equal(t, w48, trending("2026-W48"), "the same week gives the same numbers")
	require.NotEqual(t, w47, w48)
	grew := 0
	for id, v := range w48 {
		resp, rec := get(t, ts.URL, "/api/v1/fragrances/"+id+"?week=2026-W47", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.LessOrEqual(t, rec["votes"].(float64), v, "votes never fall")
		if v > rec["votes"].(float64)*1.1 {
			grew++
		}
	}
	require.Positive(t, grew, "some trending fragrances grew by more than 10% in a week")

	resp, _ := get(t, ts.URL, "/api/v1/trending?week=someday", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestWeeks(t *testing.T) {
	t.Parallel()
	w := WeekOf(testNow)
	require.Equal(t, "2026-W48", w.String())
	require.Equal(t, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), w.Start())
	parsed, err := ParseWeek("2026-w48")
	require.NoError(t, err)
	require.Equal(t, w, parsed)
	for _, bad := range []string{"2026-W54", "2023-W10", "48", "2026-48"} {
		_, err := ParseWeek(bad)
		require.Error(t, err, bad)
	}
}

func TestCrawledThroughTheHTTPSource(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	run, err := Start(srv, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, run.Close()) })

	cfg := settings.Default().Sources["sandbox"]
	cfg.DelayMS, cfg.RateLimit = 1, 6000
	src, err := upstream.Open("sandbox", cfg, upstream.Deps{BaseURL: run.URL})
	require.NoError(t, err)
	require.NoError(t, src.Ready(context.Background()))
	var items []upstream.Item
	require.NoError(t, src.List(context.Background(), upstream.Listing{Trending: true}, 10, func(p *upstream.Page) error {
		items = append(items, p.Items...)
		return nil
	}))
	require.Len(t, items, 100)
	rec, err := src.FetchRecord(context.Background(), items[0].SourceID)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec, &m))
	require.Equal(t, items[0].Name, m["name"])
	st := src.Stats()
	require.Equal(t, 6, st.Requests, "robots.txt, four trending pages, one record")
	require.Zero(t, st.Errors)
}
