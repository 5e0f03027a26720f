package conversation

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store/storetest"
)

// TestEpochMs reads the timestamp texts SQLite may hold, and PostgreSQL's
// timestamptz, as Unix milliseconds.
func TestEpochMs(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixMilli()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, d)
			for _, tt := range []struct {
				stored string
				want   int64
			}{
				{"2026-03-02 09:00:00 +0000 UTC", base},
				{"2026-03-02 09:00:00.5 +0000 UTC", base + 500},
				{"2026-03-02 09:00:00.123456789 +0000 UTC m=+0.001234567", base + 123},
				{"2026-03-02 14:30:00.25 +0530 IST", base + 250},
				{"2026-03-02 02:00:01 -0700 MST m=+12.5", base + 1000},
				{"2026-03-02T09:00:00.75Z", base + 750},
				{"2026-03-02 10:00:00+01:00", base},
			} {
				arg := any(tt.stored)
				if d == "postgres" {
					// PostgreSQL stores the instant itself.
					arg = time.UnixMilli(tt.want).In(time.FixedZone("X", 5*3600+1800))
				}
				var got float64
				q := "SELECT " + epochMs(d, "x") + " FROM (SELECT CAST(? AS TEXT) AS x) AS t"
				if d == "postgres" {
					q = "SELECT " + epochMs(d, "x") + " FROM (SELECT $1::timestamptz AS x) AS t"
				}
				require.NoError(t, st.DB.QueryRow(q, arg).Scan(&got), tt.stored)
				require.InDelta(t, tt.want, got, 1, tt.stored)
			}
		})
	}
}
