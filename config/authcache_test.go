package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
)

func TestAuthCacheTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string // "" leaves the variable unset
		want  time.Duration
		err   string // part of the message when invalid
	}{
		{value: "", want: 10 * time.Second},
		{value: "0", want: 0},
		{value: "0s", want: 0},
		{value: "1s", want: time.Second},
		{value: "30s", want: 30 * time.Second},
		{value: "10m", want: 10 * time.Minute},
		{value: "500ms", err: "too short"},
		{value: "11m", err: "out of range"},
		{value: "-1s", err: "out of range"},
		{value: "soon", err: "not a duration"},
	} {
		env := map[string]string{}
		if tc.value != "" {
			env["AUTH_CACHE_TTL"] = tc.value
		}
		c, err := config.Load(config.FromMap(env))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), "AUTH_CACHE_TTL") || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("AUTH_CACHE_TTL=%q: error = %v, want one naming the variable with %q", tc.value, err, tc.err)
			}
			continue
		}
		if err != nil || c.AuthCacheTTL != tc.want {
			t.Errorf("AUTH_CACHE_TTL=%q: %v, %v; want %v", tc.value, c.AuthCacheTTL, err, tc.want)
		}
	}
}
