package config

import (
	"strings"
	"testing"
)

func TestRateLimit(t *testing.T) {
	for _, tt := range []struct {
		name, limit, burst string
		wantLimit          float64
		wantBurst          int
		wantErr            string
	}{
		{name: "defaults", wantLimit: 50, wantBurst: 200},
		{name: "set", limit: "2.5", burst: "10", wantLimit: 2.5, wantBurst: 10},
		{name: "off", limit: "0", wantLimit: 0, wantBurst: 200},
		{name: "negative", limit: "-1", wantErr: "SEACHAT_RATE_LIMIT"},
		{name: "not a number", limit: "fast", wantErr: "SEACHAT_RATE_LIMIT"},
		{name: "infinite", limit: "Inf", wantErr: "SEACHAT_RATE_LIMIT"},
		{name: "zero burst", burst: "0", wantErr: "SEACHAT_RATE_BURST"},
		{name: "bad burst", burst: "lots", wantErr: "SEACHAT_RATE_BURST"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env("SEACHAT_RATE_LIMIT", tt.limit, "SEACHAT_RATE_BURST", tt.burst))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RateLimit != tt.wantLimit || c.RateBurst != tt.wantBurst {
				t.Errorf("RateLimit, RateBurst = %v, %v; want %v, %v", c.RateLimit, c.RateBurst, tt.wantLimit, tt.wantBurst)
			}
		})
	}
}
