package pglocal_test

import (
	"testing"

	"github.com/scentmatch/pipeline/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
