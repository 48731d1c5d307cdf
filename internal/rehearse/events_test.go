package rehearse

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/deploy"
)

const root = "../.."

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestEveryEventFileIsMapped(t *testing.T) {
	t.Parallel()
	tpl, err := deploy.Load(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	evs, err := Events(filepath.Join(root, "events"), tpl.Functions())
	require.NoError(t, err)
	covered := map[string]bool{}
	for _, e := range evs {
		covered[e.Function] = true
	}
	for _, id := range tpl.Functions() {
		require.True(t, covered[id], "%s has no sample event in events/", id)
		require.Contains(t, Order, id, "rehearse.Order does not place %s", id)
	}
	for name, machine := range MachineInputs {
		require.FileExists(t, filepath.Join(root, "events", name+".json"))
		require.Equal(t, "AWS::Serverless::StateMachine", tpl.Resources[machine].Type, "%s.json: %s", name, machine)
	}
}
