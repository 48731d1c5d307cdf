package notify

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNewFragranceReasonsFollowTheSourceIdentity: the catalog keeps the
// normalised brand and name (Christian Dior for Dior, Hermes for Hermès,
// the concentration cut from the name), so the reason detection gave is
// found through the candidate's source identity, not its spelling. A
// candidate without an identity is matched on its brand and name as they
// are; a fragrance no candidate names has no reason.
func TestNewFragranceReasonsFollowTheSourceIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	id := "schedule-20260301T0200"
	st := b.insertCycle(t, cycleSpec{id: id, started: t0, results: results(95, false,
		map[string]any{"source": "sandbox", "source_id": "11", "brand": "Dior", "name": "Sauvage Elixir", "reason": "trending", "score": 0.91},
		map[string]any{"source": "sandbox", "source_id": "12", "brand": "Hermès", "name": "Terre d'Hermès", "reason": "coverage_gap", "score": 0.8},
		map[string]any{"source": "sandbox", "source_id": "13", "brand": "Acme", "name": "Classique X", "reason": "stale", "score": 0.5},
		map[string]any{"brand": "Plain", "name": "As Written", "reason": "brand priority 1", "score": 0.4},
		// Not fetched: its identity names no fragrance.
		map[string]any{"source": "sandbox", "source_id": "99", "brand": "Acme", "name": "Other", "reason": "trending", "score": 0.3})})
	created := t0.Add(10 * time.Minute)
	b.insertFragrance(t, "Christian Dior", "Sauvage Elixir", &id, created)
	b.insertFragrance(t, "Hermes", "Terre d'Hermes", &id, created)
	b.insertFragrance(t, "Acme", "Classique X Eau de Parfum", &id, created)
	b.insertFragrance(t, "Plain", "As Written", &id, created)
	b.insertFragrance(t, "Zed", "From A Dataset", &id, created)
	for sid, name := range map[string]string{"11": "Sauvage Elixir", "12": "Terre d'Hermes", "13": "Classique X Eau de Parfum"} {
		_, err := b.pool.Exec(ctx, `INSERT INTO source_identities (source, source_id, fragrance_id)
			SELECT 'sandbox', $1, id FROM fragrances WHERE name = $2`, sid, name)
		require.NoError(t, err)
	}
	// A second identity of the Dior, from another source, changes nothing.
	_, err := b.pool.Exec(ctx, `INSERT INTO source_identities (source, source_id, fragrance_id)
		SELECT 'other', '11', id FROM fragrances WHERE name = 'Sauvage Elixir'`)
	require.NoError(t, err)

	rep, _, err := b.n.loadReport(ctx, st)
	require.NoError(t, err)
	require.Equal(t, 5, rep.NewFragranceCount)
	why := map[string]string{}
	for _, f := range rep.NewFragrances {
		s := f.Reason
		if f.Score != nil {
			s += " " + formatNumber(*f.Score)
		}
		why[f.Brand+": "+f.Name] = s
	}
	require.Equal(t, map[string]string{
		"Christian Dior: Sauvage Elixir":  "trending 0.91",
		"Hermes: Terre d'Hermes":          "coverage_gap 0.8",
		"Acme: Classique X Eau de Parfum": "stale 0.5",
		"Plain: As Written":               "brand priority 1 0.4",
		"Zed: From A Dataset":             "",
	}, why)
}
