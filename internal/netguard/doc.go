// Package netguard is errand's one network policy: it decides which
// addresses errand may connect to on behalf of a task.
//
// errand dials URLs that API callers choose: webhook receivers, the pages a
// task browses, and every link or redirect those pages lead to. Without a
// policy a caller could point errand at 127.0.0.1, at the cloud metadata
// service on 169.254.169.254 or at a database on the operator's private
// network, and read the answer back in a task result (server-side request
// forgery). Webhook delivery, the plain-HTTP page fetcher and the proxy
// Chromium uses all dial through the same [Policy], so the rule is written and
// tested once.
//
// The rule: loopback, private, link-local, CGNAT, multicast, unspecified,
// reserved and other special-purpose addresses (IPv4 and IPv6, including IPv6
// forms that embed an IPv4 address) are refused unless the operator lists
// their network in [Config.Allow] (errand's --allow-networks flag). The
// classification comes from code.dny.dev/ssrf, which tracks the IANA special
// purpose registries; netguard adds the operator's allow list, any port, and
// readable reasons.
//
// The verdict is taken on the address actually dialed, after DNS resolution,
// in the [net.Dialer] Control hook: a name that resolves to a refused address,
// or resolves to a public one at submission and to a private one later (DNS
// rebinding), is refused when the connection is made, with a [*BlockedError].
// [Policy.CheckWebhookURL] and [Policy.CheckPageURL] additionally refuse, at
// submission, URLs whose host is already an IP address in a refused range,
// however it is spelled (2130706433, 0x7f.1, 0177.0.0.1, [::ffff:127.0.0.1]).
//
// Redirects: webhook delivery must not follow redirects at all (a receiver
// answering 3xx has answered). Fetchers that do follow them are still safe,
// because each hop is a new dial through the same Control hook; they should
// also check each hop's host against the task's avoidDomains with
// [DomainMatcher].
package netguard
