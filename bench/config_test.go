package bench

import (
	"errors"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"unknown target":     func(c *Config) { c.Target = "memcached" },
		"addr without port":  func(c *Config) { c.Addr = "localhost" },
		"zero conns":         func(c *Config) { c.Conns = 0 },
		"too many conns":     func(c *Config) { c.Conns = MaxConns + 1 },
		"zero pipeline":      func(c *Config) { c.Pipeline = 0 },
		"zero keys":          func(c *Config) { c.Keys = 0 },
		"unknown dist":       func(c *Config) { c.Dist = "pareto" },
		"zipf theta 1":       func(c *Config) { c.Dist, c.ZipfTheta = DistZipf, 1 },
		"negative value":     func(c *Config) { c.ValueSize = -1 },
		"ratio 0:0":          func(c *Config) { c.SetWeight, c.GetWeight = 0, 0 },
		"no duration bound":  func(c *Config) { c.Duration = 0 },
		"negative rate":      func(c *Config) { c.Rate = -1 },
		"open loop window 0": func(c *Config) { c.Rate, c.MaxInFlight = 10, 0 },
		"w for redis":        func(c *Config) { c.Target, c.W = TargetRedis, 2 },
		"partitions not 2^k": func(c *Config) { c.Target, c.Partitions = TargetNode, 1000 },
		"zero drain":         func(c *Config) { c.DrainTimeout = 0 },
		"negative warmup":    func(c *Config) { c.Warmup = -time.Second },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestParseRatio(t *testing.T) {
	for _, tc := range []struct {
		in       string
		set, get int
		ok       bool
	}{
		{"1:0", 1, 0, true}, {"1:1", 1, 1, true}, {"1:10", 1, 10, true}, {"0:1", 0, 1, true},
		{"0:0", 0, 0, false}, {"1", 0, 0, false}, {"a:b", 0, 0, false}, {"-1:2", 0, 0, false}, {"", 0, 0, false},
	} {
		set, get, err := ParseRatio(tc.in)
		if (err == nil) != tc.ok || set != tc.set || get != tc.get {
			t.Errorf("ParseRatio(%q) = %d, %d, %v", tc.in, set, get, err)
		}
	}
}
