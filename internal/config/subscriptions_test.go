package config

import (
	"strings"
	"testing"
)

func TestMaxSubscriptions(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		want        int
		wantErr     bool
	}{
		{name: "default", want: 50},
		{name: "set", value: "5", want: 5},
		{name: "zero", value: "0", wantErr: true},
		{name: "not a number", value: "many", wantErr: true},
		{name: "too many", value: "10001", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env("SEACHAT_MAX_SUBSCRIPTIONS", tt.value))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SEACHAT_MAX_SUBSCRIPTIONS") {
					t.Fatalf("err = %v, want one naming SEACHAT_MAX_SUBSCRIPTIONS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxSubscriptions != tt.want {
				t.Errorf("MaxSubscriptions = %d, want %d", c.MaxSubscriptions, tt.want)
			}
		})
	}
}
