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
