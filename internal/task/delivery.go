package task

import "time"

// DeliveryState is where a webhook delivery is.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // owed, not yet acknowledged
	DeliveryDelivered DeliveryState = "delivered" // a 2xx was received
	DeliveryFailed    DeliveryState = "failed"    // attempts exhausted or not retryable
)

// Delivery is one webhook event owed for a task. Its ID is the webhook-id
// header: the same on every attempt and on redelivery. The store keeps
// deliveries as the outbox; internal/webhook's Dispatcher sends them.
type Delivery struct {
	ID        string
	TaskID    string
	SessionID string
	TenantID  string
	// MonitorID names the monitor whose run raised it (header
	// Errand-Monitor-Id); empty for a task's own events.
	MonitorID string
	Event     Event
	URL       string
	Auth      string // sent verbatim as Authorization; never shown
	Secret    string // whsec_… signing secrets, space-separated; never shown
	// SealedCredentials holds Auth, Secret and the URL's userinfo sealed
	// for the delivery's task: its webhook's, carried over unopened (see
	// Webhook.SealCredentials). While it is set, Auth and Secret are empty
	// and URL has no userinfo; OpenCredentials puts them back, to send.
	SealedCredentials []byte
	Body              []byte // the JSON body, fixed when the event was raised
	MaxAttempts       int
	State             DeliveryState
	Attempts          int // attempts recorded so far
	CreatedAt         time.Time
	// NextAt is when the next attempt is due (pending deliveries).
	NextAt time.Time
}

// Attempt is one recorded POST of a delivery.
type Attempt struct {
	DeliveryID      string
	TaskID          string
	Event           Event
	Attempt         int
	URL             string
	StatusCode      int
	DurationMs      int64
	Error           string
	ResponseSnippet string // at most 1 KiB
	At              time.Time
}

// DeliveryClaim leases due deliveries to one sender (the store's
// ClaimDeliveries).
type DeliveryClaim struct {
	// Owner names the node that leases them.
	Owner string
	// Now: deliveries whose NextAt is not after Now are due.
	Now time.Time
	// Until is when the lease ends: a delivery still leased then (its node
	// died mid-attempt) can be claimed again.
	Until time.Time
	// Limit caps how many are claimed.
	Limit int
}

// AttemptRecord records one attempt of a delivery and the delivery's new
// state, and releases the delivery's lease (the store's RecordAttempts).
type AttemptRecord struct {
	Attempt Attempt
	State   DeliveryState
	// NextAt is when the next attempt is due, for a delivery that stays
	// pending (a retry).
	NextAt time.Time
}
