package intake

import (
	"runtime"
	"testing"

	"github.com/yardmaster/yardmaster/internal/testenv"
)

// SQLite has one writer; PostgreSQL gets one committer per CPU, at least
// two and never more than the pipeline's connection pool holds.
func TestCommittersPerDatabase(t *testing.T) {
	lite := NewPipeline(testenv.SQLite(t), PipelineOptions{Committers: 3})
	defer lite.Close()
	if lite.opts.Committers != 1 {
		t.Errorf("sqlite: %d committers", lite.opts.Committers)
	}
	pg := testenv.Postgres(t)
	for _, tc := range []struct{ set, want int }{
		{0, min(max(runtime.GOMAXPROCS(0), 2), 4)},
		{1, 1},
		{9, 4},
	} {
		p := NewPipeline(pg, PipelineOptions{Committers: tc.set})
		p.Close()
		if p.opts.Committers != tc.want {
			t.Errorf("postgres, %d asked: %d committers, want %d", tc.set, p.opts.Committers, tc.want)
		}
	}
}
