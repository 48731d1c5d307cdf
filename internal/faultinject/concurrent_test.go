package faultinject_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/cycle"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/steps"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// observationsQuery selects what detect stored of the upstream, without
// the cycle id or the time.
const observationsQuery = `SELECT source, source_id, brand, name, votes, rating, rank FROM source_observations`

// TestTwoCyclesAtOnce starts two cycles on one database, as two
// `scentmatch cycle` processes would (each its own pool and handlers):
// exactly one runs, the other is refused, and the catalog equals that of a
// single cycle run on another database against the same sandbox week. The
// refusal comes before the second execution starts when the first already
// holds the lease ("one after the other"), or from the Detect step's lease
// when both executions reach it together ("racing for the lease").
func TestTwoCyclesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const maxFragrances = 8

	refURL := dbtest.URL(t)
	ref := newPipeline(t, refURL, tempHome(t), nil)
	refSum, err := ref.steps.RunCycle(ctx, steps.CycleOptions{Name: "manual-20261129T0100", MaxFragrances: maxFragrances, Options: ref.options()})
	require.NoError(t, err)
	require.Equal(t, "succeeded", refSum.Outcome, "%+v", refSum)
	refDB := connect(t, refURL)

	for _, race := range []bool{false, true} {
		name := "one after the other"
		if race {
			name = "racing for the lease"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := dbtest.URL(t)
			home := tempHome(t)
			names := []string{"manual-20261129T0200", "manual-20261129T0201"}
			type outcome struct {
				sum *steps.Summary
				err error
			}
			var (
				results    = make([]outcome, 2)
				done       = []chan struct{}{make(chan struct{}), make(chan struct{})}
				atDetect   = []chan struct{}{make(chan struct{}), make(chan struct{})}
				arrived    = make([]sync.Once, 2)
				imported   = make(chan struct{})
				importOnce sync.Once
				imports    = make([]int, 2)
				wg         sync.WaitGroup
			)
			wait := func(ch <-chan struct{}) {
				select {
				case <-ch:
				case <-time.After(2 * time.Minute): // a bug; the assertions below say which
				}
			}
			for i := range names {
				p := newPipeline(t, url, home, nil)
				fns := p.steps.Functions()
				detect, imp := fns[definitions.DetectFunction], fns[definitions.ImportFunction]
				fns[definitions.DetectFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
					if race {
						// Both executions call Detect, and so take the lease, together.
						arrived[i].Do(func() { close(atDetect[i]) })
						select {
						case <-atDetect[1-i]:
						case <-done[1-i]:
						}
					}
					return detect(ctx, in)
				}
				// The cycle that got the lease holds it (in Import) until the
				// other one has been answered.
				fns[definitions.ImportFunction] = func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
					imports[i]++
					importOnce.Do(func() { close(imported) })
					wait(done[1-i])
					return imp(ctx, in)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(done[i])
					if !race && i == 1 {
						wait(imported) // the second starts while the first holds the lease
					}
					sum, err := p.steps.RunCycle(ctx, steps.CycleOptions{Name: names[i], MaxFragrances: maxFragrances, Options: p.options(), Functions: fns})
					results[i] = outcome{sum, err}
				}()
			}
			wg.Wait()

			var ran, refused []int
			for i, r := range results {
				var already *cycle.AlreadyRunningError
				switch {
				case errors.As(r.err, &already):
					require.False(t, race, "both executions passed the check before they started")
					refused = append(refused, i)
					t.Logf("%s refused before it started: %v", names[i], r.err)
				case r.err == nil && r.sum.Error == "AlreadyRunningError":
					require.True(t, race)
					refused = append(refused, i)
					t.Logf("%s refused by the Detect step's lease: %s", names[i], r.sum.Cause)
				case r.err == nil && r.sum.Outcome == "succeeded":
					ran = append(ran, i)
				default:
					t.Fatalf("%s: %+v, %v", names[i], r.sum, r.err)
				}
			}
			require.Len(t, ran, 1, "exactly one cycle ran")
			require.Len(t, refused, 1, "the other was refused")
			winner, loser := ran[0], refused[0]
			require.Zero(t, imports[loser], "the refused cycle reached no Import")

			db := connect(t, url)
			_, err = (&cycle.Store{DB: db}).Get(ctx, names[loser])
			require.ErrorIs(t, err, cycle.ErrNotFound, "the refused cycle left no record")
			require.Equal(t, 1, scalar(t, db, `SELECT count(*) FROM cycles`))
			require.Zero(t, scalar(t, db, `SELECT count(*) FROM notifications WHERE cycle_id IS DISTINCT FROM $1`, names[winner]), "no message for the refused cycle")

			require.Equal(t, refSum.NewFragrancesImported, results[winner].sum.NewFragrancesImported)
			require.Equal(t, digest(t, refDB), digest(t, db), "the catalog equals a single cycle's")
			require.Equal(t, digestOf(t, refDB, observationsQuery), digestOf(t, db, observationsQuery), "detect observed once, as a single cycle does")
			require.Equal(t, scalar(t, refDB, `SELECT count(*) FROM notifications`), scalar(t, db, `SELECT count(*) FROM notifications`))
			requireIntegrity(t, db)
			t.Logf("%s ran (%d new fragrances), %s was refused", names[winner], results[winner].sum.NewFragrancesImported, names[loser])
		})
	}
}
