package netguard

// PolicyVector is one URL the policy must refuse, and must let through once
// the network it points at is listed in Config.Allow.
//
// The vectors are exported from a non-test file, although only tests use
// them, because test files of one package are invisible to another: every
// path that dials on a task's behalf (webhook delivery and DialContext here,
// browser navigation in package browser) runs this one table, so a case
// added here is tested everywhere.
type PolicyVector struct {
	Name string
	// URL may use {v4} and {v6}: the ports of real servers the test runs on
	// 127.0.0.1 and [::1].
	URL string
	// Literal: the host is an IP address (in some spelling), so the URL
	// checks refuse it at submission. Otherwise the host is a name that only
	// the dial can judge, through a resolver answering PolicyVectorHosts.
	Literal bool
	// Allow is the network (a ParseAllowList value) that, listed, lets the
	// URL through.
	Allow string
	// Reach is set when a real server answers at the address, on {v4} or
	// {v6}: once allowed, a connection must get to it. Without it nothing
	// listens there, and only the verdict on the address can be checked.
	Reach bool
}

// PolicyVectors returns the table of URLs the policy refuses: every refused
// class of address, every odd spelling of loopback a browser or inet_aton
// accepts, and names that resolve (through PolicyVectorHosts) to refused
// addresses. Each call returns a fresh copy.
func PolicyVectors() []PolicyVector {
	return []PolicyVector{
		// Loopback, in every spelling a browser or inet_aton accepts.
		{Name: "loopback", URL: "http://127.0.0.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback short form", URL: "http://127.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback decimal", URL: "http://2130706433:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback octal", URL: "http://0177.0.0.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback hex short", URL: "http://0x7f.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback hex whole", URL: "http://0x7F000001:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback mixed radix", URL: "http://0x7f.0.00.0001:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback trailing dot", URL: "http://127.0.0.1.:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback behind userinfo", URL: "https://good.com@127.0.0.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback behind user:pass", URL: "https://good.com:443@127.0.0.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback percent-encoded fullwidth", URL: "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "loopback fullwidth digits and dots", URL: "http://１２７．０．０．１:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "localhost", URL: "http://LOCALHOST:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "localhost subdomain trailing dot", URL: "http://app.localhost.:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "IPv4-mapped loopback", URL: "http://[::ffff:127.0.0.1]:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "IPv4-mapped loopback hex", URL: "http://[::ffff:7f00:1]:{v4}/", Literal: true, Allow: "127.0.0.0/8", Reach: true},
		{Name: "IPv6 loopback", URL: "http://[::1]:{v6}/", Literal: true, Allow: "::1/128", Reach: true},
		{Name: "IPv6 loopback long form", URL: "http://[0:0:0:0:0:0:0:1]:{v6}/", Literal: true, Allow: "::1/128", Reach: true},
		// Unspecified: Linux delivers a connection to 0.0.0.0 or :: to the
		// local host, which is why it is refused.
		{Name: "unspecified zero", URL: "http://0:{v4}/", Literal: true, Allow: "0.0.0.0/8", Reach: true},
		{Name: "unspecified dotted", URL: "http://0.0.0.0:{v4}/", Literal: true, Allow: "0.0.0.0/8", Reach: true},
		{Name: "unspecified IPv6", URL: "http://[::]:{v6}/", Literal: true, Allow: "::/128", Reach: true},

		// Names only the dial can judge: the test's resolver points them at
		// refused addresses.
		{Name: "name resolving to loopback", URL: "https://evil.test:{v4}/hook", Allow: "127.0.0.0/8", Reach: true},
		{Name: "name resolving to IPv6 loopback", URL: "https://evil6.test:{v6}/hook", Allow: "::1/128", Reach: true},
		{Name: "name resolving to IPv4-mapped loopback", URL: "https://mapped.test:{v4}/hook", Allow: "127.0.0.0/8", Reach: true},
		{Name: "name resolving to private", URL: "https://private.test/hook", Allow: "10.0.0.0/8"},
		{Name: "name resolving to metadata", URL: "https://metadata.test/latest/meta-data/", Allow: "169.254.0.0/16"},
		{Name: "name resolving only to refused addresses", URL: "https://mixed.test/", Allow: "10.0.0.0/8,192.168.0.0/16"},

		// Every other refused class, as literals.
		{Name: "private 10/8", URL: "http://10.0.0.1/", Literal: true, Allow: "10.0.0.0/8"},
		{Name: "private 172.16/12", URL: "http://172.16.5.4:8443/", Literal: true, Allow: "172.16.0.0/12"},
		{Name: "private 192.168/16", URL: "http://192.168.1.1/", Literal: true, Allow: "192.168.0.0/16"},
		{Name: "private decimal", URL: "http://3232235777/", Literal: true, Allow: "192.168.0.0/16"},
		{Name: "private IPv4-mapped", URL: "https://[::ffff:10.0.0.1]/", Literal: true, Allow: "10.0.0.0/8"},
		{Name: "cloud metadata", URL: "http://169.254.169.254/latest/meta-data/", Literal: true, Allow: "169.254.169.254/32"},
		{Name: "cloud metadata hex", URL: "http://0xa9.0xfe.0xa9.0xfe/", Literal: true, Allow: "169.254.0.0/16"},
		{Name: "cloud metadata decimal", URL: "http://2852039166/", Literal: true, Allow: "169.254.0.0/16"},
		{Name: "CGNAT", URL: "http://100.64.0.1/", Literal: true, Allow: "100.64.0.0/10"},
		{Name: "multicast", URL: "http://224.0.0.1/", Literal: true, Allow: "224.0.0.0/4"},
		{Name: "broadcast", URL: "http://255.255.255.255/", Literal: true, Allow: "255.255.255.255/32"},
		{Name: "reserved", URL: "http://240.0.0.1/", Literal: true, Allow: "240.0.0.0/4"},
		{Name: "documentation", URL: "http://192.0.2.1/", Literal: true, Allow: "192.0.2.0/24"},
		{Name: "benchmarking", URL: "http://198.18.0.1/", Literal: true, Allow: "198.18.0.0/15"},
		{Name: "IPv6 unique-local fc00", URL: "http://[fc00::1]/", Literal: true, Allow: "fc00::/7"},
		{Name: "IPv6 unique-local fd00", URL: "https://[fd12:3456:789a::1]:9000/", Literal: true, Allow: "fc00::/7"},
		{Name: "IPv6 link-local", URL: "http://[fe80::1]/", Literal: true, Allow: "fe80::/10"},
		{Name: "IPv6 multicast", URL: "http://[ff02::1]/", Literal: true, Allow: "ff00::/8"},
		{Name: "IPv6 documentation", URL: "http://[2001:db8::1]/", Literal: true, Allow: "2001:db8::/32"},
		{Name: "NAT64 embedding loopback", URL: "http://[64:ff9b::7f00:1]/", Literal: true, Allow: "64:ff9b::/96"},
		{Name: "6to4 embedding loopback", URL: "http://[2002:7f00:1::1]/", Literal: true, Allow: "2002::/16"},
		{Name: "IPv4-compatible loopback", URL: "http://[::127.0.0.1]/", Literal: true, Allow: "::/96"},
	}
}

// PolicyVectorHosts returns what a test's resolver answers for the names
// PolicyVectors uses (name → addresses, in order). Each call returns a fresh
// copy.
func PolicyVectorHosts() map[string][]string {
	return map[string][]string{
		"evil.test":     {"127.0.0.1"},
		"evil6.test":    {"::1"},
		"mapped.test":   {"::ffff:127.0.0.1"},
		"private.test":  {"10.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"mixed.test":    {"10.1.2.3", "192.168.7.7"},
	}
}
