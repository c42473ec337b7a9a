package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Options are the flags both generators take.
type Options struct {
	Conns, Rounds    int
	Duration, Warmup time.Duration
	Login, Password  string
}

// Defaults are one command's defaults, bound and help for the Options
// flags; -warmup defaults to 1s and -login and -password to the demo user.
type Defaults struct {
	Conns         int
	ConnsUsage    string
	Rounds        int
	RoundsUsage   string
	Duration      time.Duration
	MaxDuration   time.Duration
	DurationUsage string
	WarmupUsage   string
}

// Parse registers the Options flags on fs, which may already hold the
// command's own, parses args, refuses positional arguments and checks the
// Options' ranges. The command checks its own flags after.
func (d Defaults) Parse(fs *flag.FlagSet, args []string) (Options, error) {
	var o Options
	fs.IntVar(&o.Conns, "c", d.Conns, d.ConnsUsage)
	fs.IntVar(&o.Rounds, "rounds", d.Rounds, d.RoundsUsage)
	fs.DurationVar(&o.Duration, "d", d.Duration, d.DurationUsage)
	fs.DurationVar(&o.Warmup, "warmup", time.Second, d.WarmupUsage)
	fs.StringVar(&o.Login, "login", "alice@example.com", "login for Basic and the token request")
	fs.StringVar(&o.Password, "password", "wonderland-42", "password for Basic and the token request")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() != 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.Conns < 1 || o.Conns > 1024:
		return o, errors.New("-c must be between 1 and 1024")
	case o.Rounds < 1 || o.Rounds > 100:
		return o, errors.New("-rounds must be between 1 and 100")
	case o.Duration <= 0 || o.Duration > d.MaxDuration:
		return o, fmt.Errorf("-d must be positive and at most %s", shortDuration(d.MaxDuration))
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, errors.New("-warmup must be between 0 and 1m")
	}
	return o, nil
}

// shortDuration is d without the zero units time.Duration.String ends
// with: "10m" for 10m0s, as a person writes -d.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseURL parses raw as http://host:port on a loopback host.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, errors.New("URL must be http://host:port")
	}
	if err := CheckLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

// CheckLoopback refuses any host that is not a loopback IP address, or
// "localhost" resolving only to loopback addresses.
func CheckLoopback(host string) error {
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if host == "localhost" {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return err
		}
		ips = addrs
	}
	if len(ips) == 0 {
		return fmt.Errorf("host %q is not a loopback address", host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("host %q is not a loopback address", host)
		}
	}
	return nil
}
