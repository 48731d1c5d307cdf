package importer

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

// listRecords serves raw records from memory, then err (io.EOF at the end).
type listRecords struct {
	raws []*dataset.Raw
	pos  int
	err  error
}

func (r *listRecords) Next() (*dataset.Raw, error) {
	if r.pos >= len(r.raws) {
		return nil, r.err
	}
	r.pos++
	return r.raws[r.pos-1], nil
}
func (r *listRecords) Name() string           { return "list" }
func (r *listRecords) Format() dataset.Format { return dataset.FormatJSONL }
func (r *listRecords) BytesRead() int64       { return int64(r.pos) }
func (r *listRecords) Unmapped() []string     { return nil }

func produceAll(t *testing.T, r Records, size int) []readBatch {
	v := &catalog.Validator{Quality: settings.Default().Monitoring.Quality}
	out := make(chan readBatch)
	stop := make(chan struct{})
	go func() {
		defer close(out)
		produce(r, v, size, out, stop)
	}()
	var got []readBatch
	for rb := range out {
		got = append(got, rb)
	}
	return got
}

// TestProduceKeepsInputOrder validates on every core and checks that the
// batches hold every record once, in input order, cut where one
// goroutine would cut them (size valid records, or 4x size in all), and
// that a read error ends the batches with the valid records it strands.
func TestProduceKeepsInputOrder(t *testing.T) {
	var raws []*dataset.Raw
	for i := 1; i <= 5000; i++ {
		name := fmt.Sprintf("Name %d", i)
		if i%7 == 0 || (i > 3000 && i < 3900) {
			name = "" // rejected: required
		}
		raws = append(raws, &dataset.Raw{Index: i, Line: i, Fields: map[string]any{"brand": "Dior", "name": name}})
	}
	for _, tc := range []struct {
		name string
		err  error
	}{{"eof", io.EOF}, {"read error", errors.New("broken")}} {
		t.Run(tc.name, func(t *testing.T) {
			got := produceAll(t, &listRecords{raws: raws, err: tc.err}, 500)
			next, valid := 1, 0
			for bi, rb := range got {
				if rb.err != nil {
					require.Equal(t, len(got)-1, bi, "the error ends the batches")
					continue
				}
				n := 0
				for _, it := range rb.items {
					require.Equal(t, next, it.raw.Index)
					next++
					if it.f != nil {
						n++
						require.Equal(t, fmt.Sprintf("Name %d", it.raw.Index), it.f.Name)
					} else {
						require.NotEmpty(t, it.issues)
					}
				}
				require.Equal(t, n, rb.valid)
				valid += n
				if bi < len(got)-1 && got[bi+1].err == nil {
					require.True(t, rb.valid == 500 || len(rb.items) == 2000, "batch %d cut at %d valid of %d", bi, rb.valid, len(rb.items))
				}
			}
			if tc.err == io.EOF {
				require.Equal(t, 5001, next, "every record once")
			} else {
				// The records after the last full batch are stranded by the
				// error, as before.
				require.Less(t, next, 5001)
				batchValid := 0
				for _, rw := range raws[next-1:] {
					if rw.Fields["name"] != "" {
						batchValid++
					}
				}
				require.Equal(t, batchValid, got[len(got)-1].valid)
			}
		})
	}
}
