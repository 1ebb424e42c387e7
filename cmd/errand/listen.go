package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/errandhq/errand/webhookkit"
)

// listen is a local webhook receiver for developing a handler: it prints
// each delivery as it arrives (headers, pretty JSON, whether the signature
// verified), optionally forwards it, and answers 200.
func listen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("listen", "", "A local webhook receiver for developing a handler: print each delivery (headers, JSON, whether the signature verified), optionally forward it, and answer 200.", func(string) string { return "" })
	addr := c.fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := c.fs.String("secret", "", "whsec_… secret(s), space-separated, to verify webhook-signature")
	forward := c.fs.String("forward", "", "also POST each delivery (body and headers) to this URL")
	if err := c.parse(args, stdout, stderr); err != nil {
		return helpOrErr(err)
	}
	var verifier *webhookkit.Verifier
	if *secret != "" {
		v, err := webhookkit.NewVerifier(strings.Fields(*secret)...)
		if err != nil {
			return fmt.Errorf("--secret: %w", err)
		}
		verifier = v
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	l := &listener{out: stdout, verifier: verifier, forward: *forward, client: &http.Client{Timeout: 30 * time.Second}}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "errand listen: listening on http://%s", ln.Addr())
	if *forward != "" {
		fmt.Fprintf(stdout, ", forwarding to %s", *forward)
	}
	fmt.Fprintln(stdout)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type listener struct {
	out      io.Writer
	verifier *webhookkit.Verifier
	forward  string
	client   *http.Client
	mu       sync.Mutex // one delivery printed at a time
	n        int
}

// shownHeaders are printed in this order when present.
var shownHeaders = []string{
	"Content-Type", "User-Agent", "Authorization",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	"Errand-Event", "Errand-Session-Id", "Errand-Task-Id",
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	var b strings.Builder
	l.mu.Lock()
	l.n++
	n := l.n
	l.mu.Unlock()
	fmt.Fprintf(&b, "── delivery %d · %s · %s %s\n", n, time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.RequestURI())
	for _, h := range shownHeaders {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	switch {
	case l.verifier == nil && r.Header.Get(webhookkit.HeaderSignature) != "":
		b.WriteString("signature: not checked (run with --secret to verify)\n")
	case l.verifier != nil:
		if err := l.verifier.Verify(r.Header, body); err != nil {
			fmt.Fprintf(&b, "signature: NOT verified: %v\n", err)
		} else {
			b.WriteString("signature: verified\n")
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		b.WriteString(pretty.String())
	} else {
		fmt.Fprintf(&b, "(not JSON, %d bytes) %q", len(body), body)
	}
	b.WriteString("\n")
	if l.forward != "" {
		b.WriteString(l.forwardTo(r, body))
	}
	l.mu.Lock()
	io.WriteString(l.out, b.String())
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"received":true}`)
}

// forwardTo re-sends a delivery, headers included, and says how it went.
func (l *listener) forwardTo(r *http.Request, body []byte) string {
	req, err := http.NewRequest(http.MethodPost, l.forward, bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("forward: %v\n", err)
	}
	for k, vs := range r.Header {
		if slices.Contains([]string{"Content-Length", "Connection", "Accept-Encoding"}, k) {
			continue
		}
		req.Header[k] = vs
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Sprintf("forward → %s: %v\n", l.forward, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return fmt.Sprintf("forward → %s: %s\n", l.forward, resp.Status)
}
