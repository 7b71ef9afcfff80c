package digest

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		spec, tz string
		wantErr  string
	}{
		{"0 8 * * 1-5", "Europe/Berlin", ""},
		{"30 17 * * fri", "America/New_York", ""},
		{"@daily", "UTC", ""},
		{"@weekly", "Asia/Tokyo", ""},
		{"0 */4 * * *", "Etc/UTC", ""},
		{"*/15 * * * *", "UTC", ""}, // exactly the minimum gap
		{"*/5 * * * *", "UTC", "more often than every 15m"},
		{"* * * * *", "UTC", "more often"},
		{"0,10 8 * * *", "UTC", "more often"},
		{"", "UTC", "is empty"},
		{"0 8 * *", "UTC", "not a cron expression"},
		{"0 25 * * *", "UTC", "not a cron expression"},
		{"0 8 * * 1-5 extra", "UTC", "not a cron expression"},
		{"@every 1h", "UTC", "@every is not supported"},
		{"CRON_TZ=Europe/Berlin 0 8 * * *", "UTC", "must not name a time zone"},
		{"TZ=UTC 0 8 * * *", "UTC", "must not name a time zone"},
		{"0 0 30 2 *", "UTC", "never fires"},
		{"0 8 * * *", "", "time zone is empty"},
		{"0 8 * * *", "Local", "not an IANA name"},
		{"0 8 * * *", "CET", "not an IANA name"},
		{"0 8 * * *", "Europe/Atlantis", "unknown"},
		{strings.Repeat("1", 121), "UTC", "longer than 120"},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"/"+tt.tz, func(t *testing.T) {
			_, err := ParseSchedule(tt.spec, tt.tz)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestScheduleFollowsWallClockAcrossDST(t *testing.T) {
	s, err := ParseSchedule("0 8 * * 1-5", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 27 March 2026 08:00 CET is 07:00 UTC; Monday 30 March 08:00
	// CEST (after the switch on Sunday the 29th) is 06:00 UTC.
	fri := s.Next(time.Date(2026, 3, 27, 6, 0, 0, 0, time.UTC))
	if got, want := fri.UTC(), time.Date(2026, 3, 27, 7, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Friday fire = %s, want %s", got, want)
	}
	mon := s.Next(fri)
	if got, want := mon.UTC(), time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Monday fire = %s, want %s (weekend skipped, CEST)", got, want)
	}
}

func TestLatestDue(t *testing.T) {
	s, err := ParseSchedule("0 8 * * *", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name       string
		after, now time.Time
		want       time.Time
		ok         bool
	}{
		{"not yet", day(1, 9, 0), day(2, 7, 59), time.Time{}, false},
		{"exactly at the slot", day(1, 9, 0), day(2, 8, 0), day(2, 8, 0), true},
		{"slot already scheduled", day(2, 8, 0), day(2, 9, 0), time.Time{}, false},
		{"three slots missed: only the latest", day(1, 9, 0), day(4, 12, 0), day(4, 8, 0), true},
		{"cursor months old is capped", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), day(4, 12, 0), day(4, 8, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.LatestDue(tt.after, tt.now)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("LatestDue = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
