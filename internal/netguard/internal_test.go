package netguard

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"testing"
)

// TestControlHookJudgesTheDialedAddress dials with the policy's own
// net.Dialer, skipping DialContext's resolution and early checks, to prove
// the Control hook alone refuses: it is what stands when a resolver lies or
// a name rebinds between lookup and connect.
func TestControlHookJudgesTheDialedAddress(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := ln.Addr().String()
	_, port, _ := net.SplitHostPort(target)
	mapped := net.JoinHostPort("::ffff:127.0.0.1", port)

	refusing := New(Config{})
	for _, addr := range []string{target, mapped} {
		conn, err := refusing.dialer.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			conn.Close()
			t.Fatalf("the bare dialer connected to %s; the Control hook must refuse loopback", addr)
		}
		var blocked *BlockedError
		if !errors.As(err, &blocked) {
			t.Fatalf("dial %s: %v, want a *BlockedError from the Control hook", addr, err)
		}
	}

	allowing := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	conn, err := allowing.dialer.DialContext(t.Context(), "tcp", target)
	if err != nil {
		t.Fatalf("with 127.0.0.0/8 allowed, dial %s: %v", target, err)
	}
	conn.Close()
}

func TestControlHookRefusesNonTCP(t *testing.T) {
	p := New(Config{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err := p.control("udp4", "8.8.8.8:53", nil); err == nil {
		t.Fatal("control allowed udp4; only TCP may be dialed")
	}
	if err := p.control("tcp4", "8.8.8.8:53", nil); err != nil {
		t.Fatalf("control refused a public TCP address: %v", err)
	}
}

// TestWHATWGIPv4 checks the IPv4 parser against cases from the URL
// Standard's tests (web-platform-tests url/resources/urltestdata.json).
func TestWHATWGIPv4(t *testing.T) {
	for _, tc := range []struct {
		host string
		want string // "" = not an IPv4 address but a valid name; "fail" = invalid host
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"0X7F.0X1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"0x.0x.0", "0.0.0.0"},
		{"00", "0.0.0.0"},
		{"1.2.3.4.", "1.2.3.4"},
		{"4294967295", "255.255.255.255"},
		{"0xffffffff", "255.255.255.255"},
		{"037777777777", "255.255.255.255"},
		{"1.256", "1.0.1.0"},
		{"1.65536", "1.1.0.0"},
		{"192.168.257", "192.168.1.1"},
		{"4294967296", "fail"},
		{"0x100000000", "fail"},
		{"99999999999999999999999", "fail"},
		{"256.0.0.1", "fail"},
		{"1.2.3.4.5", "fail"},
		{"1.2.3.09", "fail"},
		{"09", "fail"},
		{"0x7g", ""},
		{"foo.09", "fail"},
		{"foo.0x", "fail"},
		{"foo.0x4", "fail"},
		{"1..2", "fail"},
		{"1.2.3.4..", ""},
		{"example.com", ""},
		{"1.2.3.com", ""},
		{"0x7f.1.", "127.0.0.1"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, err := parseASCIIHost(tc.host)
			switch {
			case tc.want == "fail":
				if err == nil {
					t.Fatalf("parseASCIIHost(%q) = %+v, want failure", tc.host, got)
				}
			case tc.want == "":
				if err != nil || got.addr.IsValid() {
					t.Fatalf("parseASCIIHost(%q) = %+v, %v; want a name", tc.host, got, err)
				}
			default:
				if err != nil || got.addr != netip.MustParseAddr(tc.want) {
					t.Fatalf("parseASCIIHost(%q) = %+v, %v; want %s", tc.host, got, err, tc.want)
				}
			}
		})
	}
}

func TestParseURLHost(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want: an address, "name:<ascii>", or "invalid"
	}{
		{"http://１２７．０．０．１/", "127.0.0.1"},
		{"http://EXAMPLE.com./", "name:example.com."},
		{"http://bücher.example/", "name:xn--bcher-kva.example"},
		{"http://under_score.example/", "name:under_score.example"},
		{"http://-leading.example/", "name:-leading.example"},
		{"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"},
		{"http://[fe80::1%25eth0]/", "invalid"},
		{"http://foo.0x7f/", "invalid"},
		{"http://a%C2%A0b/", "invalid"}, // no-break space maps to a space, which is forbidden
	} {
		t.Run(tc.raw, func(t *testing.T) {
			u, err := url.Parse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseURLHost(u)
			switch {
			case tc.want == "invalid":
				if err == nil {
					t.Fatalf("parseURLHost(%q) = %+v, want invalid", tc.raw, got)
				}
			case len(tc.want) > 5 && tc.want[:5] == "name:":
				if err != nil || got.addr.IsValid() || got.name != tc.want[5:] {
					t.Fatalf("parseURLHost(%q) = %+v, %v; want %s", tc.raw, got, err, tc.want)
				}
			default:
				if err != nil || got.addr != netip.MustParseAddr(tc.want) {
					t.Fatalf("parseURLHost(%q) = %+v, %v; want %s", tc.raw, got, err, tc.want)
				}
			}
		})
	}
}

// FuzzPolicyAddr: judging an address never panics; the standard library's
// non-public classes are always refused; the Control hook agrees with
// CheckAddr; an IPv4 address and its IPv4-mapped form get the same verdict;
// and the allow list lets through exactly its networks, never less than the
// bare policy.
func FuzzPolicyAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "255.255.255.255",
		"224.0.0.1", "192.168.100.7", "8.8.8.8", "::1", "::", "fe80::1", "fc00::1", "fd00:abcd::1",
		"ff02::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "2606:4700::1111", "::127.0.0.1",
	} {
		a := netip.MustParseAddr(s)
		b := a.AsSlice()
		f.Add(b, uint16(443))
	}
	allow := []netip.Prefix{netip.MustParsePrefix("192.168.100.0/24"), netip.MustParsePrefix("fd00:abcd::/32")}
	bare := New(Config{})
	dev := New(Config{Allow: allow})

	f.Fuzz(func(t *testing.T, raw []byte, port uint16) {
		var a netip.Addr
		switch {
		case len(raw) >= 16:
			a = netip.AddrFrom16([16]byte(raw[:16]))
		case len(raw) >= 4:
			a = netip.AddrFrom4([4]byte(raw[:4]))
		default:
			return
		}
		err := bare.CheckAddr(a)
		if err != nil {
			var b *BlockedError
			if !errors.As(err, &b) || b.Addr != a || b.Reason == "" {
				t.Fatalf("CheckAddr(%s) = %#v, want a *BlockedError naming it with a reason", a, err)
			}
		}
		u := a.Unmap()
		stdlibRefuses := !u.IsGlobalUnicast() || u.IsPrivate() || u.IsLoopback() || u.IsLinkLocalUnicast() || u.IsMulticast() || u.IsUnspecified()
		if stdlibRefuses && err == nil {
			t.Fatalf("CheckAddr(%s) allowed an address the standard library calls non-public", a)
		}
		network := "tcp6"
		if u.Is4() {
			network = "tcp4"
		}
		ctlErr := bare.control(network, netip.AddrPortFrom(a, port).String(), nil)
		if (ctlErr == nil) != (err == nil) {
			t.Fatalf("%s: Control hook says %v, CheckAddr says %v", a, ctlErr, err)
		}
		if u.Is4() {
			other := netip.AddrFrom16(u.As16())
			if a.Is4In6() {
				other = u
			}
			if (bare.CheckAddr(other) == nil) != (err == nil) {
				t.Fatalf("%s and %s get different verdicts", a, other)
			}
		}

		devErr := dev.CheckAddr(a)
		inAllow := false
		for _, pfx := range allow {
			inAllow = inAllow || pfx.Contains(u)
		}
		if inAllow && devErr != nil {
			t.Fatalf("%s is in the allowed networks but was refused: %v", a, devErr)
		}
		if err == nil && devErr != nil {
			t.Fatalf("%s: allowing networks refused an address the bare policy allows", a)
		}
		if !inAllow && (devErr == nil) != (err == nil) {
			t.Fatalf("%s is outside the allowed networks, yet the verdict changed", a)
		}
	})
}
