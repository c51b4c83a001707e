package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/thecombine/combine/config"
)

func TestEventStreamSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsKeepalive != 15*time.Second || c.EventsPoll != 0 {
		t.Fatalf("defaults: keepalive %s, poll %s", c.EventsKeepalive, c.EventsPoll)
	}
	c, err = config.Load(config.FromMap(map[string]string{"EVENTS_KEEPALIVE": "25s", "EVENTS_POLL_INTERVAL": "1s"}))
	if err != nil || c.EventsKeepalive != 25*time.Second || c.EventsPoll != time.Second {
		t.Fatalf("set: %v %+v", err, c)
	}
	for _, env := range []map[string]string{
		{"EVENTS_KEEPALIVE": "0s"},
		{"EVENTS_KEEPALIVE": "soon"},
		{"EVENTS_POLL_INTERVAL": "1ms"},
		{"EVENTS_POLL_INTERVAL": "2m"},
	} {
		_, err := config.Load(config.FromMap(env))
		for k := range env {
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("%v: error = %v, want one naming %s", env, err, k)
			}
		}
	}
}

// TestEventStreamLimits: the stream caps, re-authentication interval and
// write timeout, each validated.
func TestEventStreamLimits(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.FromMap(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsMaxStreams != 5000 || c.EventsMaxStreamsPerUser != 50 || c.EventsReauth != 5*time.Second || c.EventsWriteTimeout != 10*time.Second {
		t.Fatalf("defaults: %d %d %s %s", c.EventsMaxStreams, c.EventsMaxStreamsPerUser, c.EventsReauth, c.EventsWriteTimeout)
	}
	tests := []struct {
		env  map[string]string
		bad  string // the variable named in the error; "" for valid
		want func(*config.Config) bool
	}{
		{env: map[string]string{"EVENTS_MAX_STREAMS": "3000", "EVENTS_MAX_STREAMS_PER_USER": "3000"},
			want: func(c *config.Config) bool { return c.EventsMaxStreams == 3000 && c.EventsMaxStreamsPerUser == 3000 }},
		{env: map[string]string{"EVENTS_REAUTH_INTERVAL": "2s", "EVENTS_WRITE_TIMEOUT": "30s"},
			want: func(c *config.Config) bool {
				return c.EventsReauth == 2*time.Second && c.EventsWriteTimeout == 30*time.Second
			}},
		{env: map[string]string{"EVENTS_MAX_STREAMS": "0"}, bad: "EVENTS_MAX_STREAMS"},
		{env: map[string]string{"EVENTS_MAX_STREAMS": "many"}, bad: "EVENTS_MAX_STREAMS"},
		{env: map[string]string{"EVENTS_MAX_STREAMS": "10", "EVENTS_MAX_STREAMS_PER_USER": "11"}, bad: "EVENTS_MAX_STREAMS_PER_USER"},
		{env: map[string]string{"EVENTS_MAX_STREAMS_PER_USER": "-1"}, bad: "EVENTS_MAX_STREAMS_PER_USER"},
		{env: map[string]string{"EVENTS_REAUTH_INTERVAL": "10ms"}, bad: "EVENTS_REAUTH_INTERVAL"},
		{env: map[string]string{"EVENTS_REAUTH_INTERVAL": "2h"}, bad: "EVENTS_REAUTH_INTERVAL"},
		{env: map[string]string{"EVENTS_WRITE_TIMEOUT": "never"}, bad: "EVENTS_WRITE_TIMEOUT"},
		{env: map[string]string{"EVENTS_WRITE_TIMEOUT": "1h"}, bad: "EVENTS_WRITE_TIMEOUT"},
	}
	for _, tt := range tests {
		c, err := config.Load(config.FromMap(tt.env))
		switch {
		case tt.bad == "" && (err != nil || !tt.want(c)):
			t.Errorf("%v: %v %+v", tt.env, err, c)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("%v: error = %v, want one naming %s", tt.env, err, tt.bad)
		}
	}
}

// TestWarnings: configurations that work but open a door are named at start.
func TestWarnings(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 40)
	tests := []struct {
		name string
		env  map[string]string
		warn string // a fragment of the expected warning; "" for none
	}{
		{"trust every IPv4 proxy", map[string]string{"SECRET_KEY": key, "TRUSTED_PROXIES": "0.0.0.0/0"}, "trusts every address"},
		{"trust every IPv6 proxy", map[string]string{"SECRET_KEY": key, "TRUSTED_PROXIES": "10.0.0.0/8, ::/0"}, "trusts every address"},
		{"trusted proxy network", map[string]string{"SECRET_KEY": key, "TRUSTED_PROXIES": "10.0.0.0/8"}, ""},
		{"production over http", map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": key, "PUBLIC_URL": "http://combine.example.com"}, "not https in production"},
		{"production over HTTP", map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": key, "PUBLIC_URL": "HTTP://combine.example.com"}, "not https in production"},
		{"staging over http", map[string]string{"ENVIRONMENT": "staging", "SECRET_KEY": key, "PUBLIC_URL": "http://combine.example.com"}, "not https in staging"},
		{"production over https", map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": key, "PUBLIC_URL": "https://combine.example.com"}, ""},
		{"development over http", map[string]string{"SECRET_KEY": key, "PUBLIC_URL": "http://localhost:8000"}, ""},
	}
	for _, tt := range tests {
		c, err := config.Load(config.FromMap(tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := strings.Join(c.Warnings, "\n")
		if tt.warn == "" && got != "" {
			t.Errorf("%s: unexpected warnings %q", tt.name, got)
		}
		if tt.warn != "" && !strings.Contains(got, tt.warn) {
			t.Errorf("%s: warnings %q lack %q", tt.name, got, tt.warn)
		}
	}
}
