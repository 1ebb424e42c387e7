// Package pgtest gives tests a real PostgreSQL: a throwaway cluster started
// from the installed binaries (initdb and pg_ctl, as Debian's postgresql
// package installs them), one per test binary, and a fresh database per test
// so that tests stay isolated and can run in parallel.
//
// A test binary keeps one Cluster for all its tests:
//
//	var pg = pgtest.New()
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if err := pg.Stop(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			code = 1
//		}
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) {
//		url := pg.NewDatabase(t) // postgres://…, dropped when t ends
//	}
//
// The cluster starts on the first NewDatabase, so a binary whose tests never
// ask for one (or a child process a test re-executes) pays nothing.
//
// ERRAND_TEST_DATABASE_URL points the tests at an existing server instead;
// its role must be allowed to create databases. Without that variable and
// without PostgreSQL's binaries the tests skip, except when CI is set: there
// a missing PostgreSQL is a failure, so that nothing skips unnoticed.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/errandhq/errand/internal/testenv"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "ERRAND_TEST_DATABASE_URL"

// ErrNotInstalled: no PostgreSQL binaries were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL not installed (no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin)")

// Cluster is a PostgreSQL server for one test binary: started by it, or an
// existing one named by ERRAND_TEST_DATABASE_URL.
type Cluster struct {
	once     sync.Once
	startErr error

	adminURL string // a superuser (or CREATEDB role) connection
	dir      string // the temporary folder of a cluster we started; "" otherwise
	binDir   string
	asUser   string // run pg_ctl as this user (when we are root); "" for ourselves
	durable  bool   // keep PostgreSQL's durable defaults (StartDurable)

	mu      sync.Mutex
	counter int
}

// New returns a cluster that starts on first use.
func New() *Cluster { return &Cluster{} }

// Start starts the cluster now rather than on first use, so that a
// TestMain can report a broken installation once. It answers
// ErrNotInstalled when there is nothing to start.
func Start() (*Cluster, error) {
	c := New()
	return c, c.start()
}

// StartDurable starts a cluster with PostgreSQL's durable defaults (fsync,
// synchronous commit, full page writes) for measurements, where trading
// durability for speed would flatter the figures.
func StartDurable() (*Cluster, error) {
	c := &Cluster{durable: true}
	return c, c.start()
}

func (c *Cluster) start() error {
	c.once.Do(func() { c.startErr = c.doStart() })
	return c.startErr
}

func (c *Cluster) doStart() error {
	if u := os.Getenv(EnvURL); u != "" {
		c.adminURL = u
		return c.ping()
	}
	bin, err := findBinDir()
	if err != nil {
		return err
	}
	c.binDir = bin
	if os.Geteuid() == 0 {
		// initdb refuses to run as root, and the server must not run as
		// root either: run both as the postgres system user the Debian
		// package creates.
		c.asUser = "postgres"
	}
	dir, err := os.MkdirTemp("", "errand-pgtest-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	c.dir = dir
	if c.asUser != "" {
		if err := chownTo(dir, c.asUser); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
	}
	if err := c.initdb(); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	// The port is chosen by binding :0 and closing it, so another process
	// could take it before the server binds it: try a few times.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		err = c.pgStart(port)
		if err == nil {
			c.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			break
		}
		if try == 2 {
			_ = os.RemoveAll(dir)
			return err
		}
	}
	if err := c.ping(); err != nil {
		_ = c.Stop()
		return err
	}
	c.watch()
	return nil
}

// watch starts a watchdog that stops the server and removes its folder once
// this process is gone, in case it dies without calling Stop (a test
// timeout panics, a developer presses Ctrl-C): pg_ctl detaches the server,
// which would otherwise outlive the test run. The watchdog is in a session
// of its own, so the signal that killed the test binary does not reach it,
// and its output goes nowhere, so that go test does not wait on it.
func (c *Cluster) watch() {
	const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null
sleep 1
rm -rf "$3"`
	cmd := exec.Command("sh", "-c", script, "pgtest-watchdog", strconv.Itoa(os.Getpid()), c.dataDir(), c.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err == nil {
		_ = cmd.Process.Release()
	}
}

// findBinDir finds the folder of initdb and pg_ctl: PATH first, then
// Debian's versioned folders, newest version first.
func findBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(a))))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(b))))
		return vb - va
	})
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	return "", ErrNotInstalled
}

func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs the %s system user: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// command runs one of PostgreSQL's programs, as the postgres user when we
// are root.
func (c *Cluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.binDir, prog)
	if c.asUser == "" {
		return exec.Command(path, args...)
	}
	return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) initdb() error {
	cmd := c.command("initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// Settings for a database that lives as long as a test run: losing it
	// in a power cut costs nothing, so durability is traded for speed; the
	// socket stays in our folder so that nothing outside it is touched.
	speed := []string{"fsync = off", "synchronous_commit = off", "full_page_writes = off"}
	if c.durable {
		speed = nil
	}
	conf := strings.Join(append([]string{
		"",
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + c.dir + "'",
	}, append(speed,
		// Every test opens its own store, each with a pool and River's
		// listener; parallel tests and multi-node tests add up.
		"max_connections = 300",
		"shared_buffers = 32MB",
		"",
	)...), "\n")
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: postgresql.conf: %w", err)
	}
	return nil
}

func (c *Cluster) pgStart(port int) error {
	cmd := c.command("pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(),
		"-l", filepath.Join(c.dir, "postgres.log"), "-o", "-p "+strconv.Itoa(port))
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	return conn.Close(ctx)
}

// Stop stops a cluster this package started and removes its files; it
// leaves a server named by ERRAND_TEST_DATABASE_URL alone. Stop on a
// cluster that never started does nothing.
func (c *Cluster) Stop() error {
	if c.dir == "" {
		return nil
	}
	// Immediate: the data is thrown away, so there is nothing to flush.
	var errs []error
	if out, err := c.command("pg_ctl", "stop", "-w", "-m", "immediate", "-D", c.dataDir()).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	c.dir = ""
	return errors.Join(errs...)
}

// URL answers the connection string of the cluster's administrative
// database, starting the cluster if needed; t skips when PostgreSQL is not
// installed (see the package doc).
func (c *Cluster) URL(t testing.TB) string {
	t.Helper()
	c.need(t)
	return c.adminURL
}

func (c *Cluster) need(t testing.TB) {
	t.Helper()
	err := c.start()
	switch {
	case errors.Is(err, ErrNotInstalled):
		testenv.Missing(t, "PostgreSQL", "apt-get install postgresql, or set "+EnvURL, err)
	case err != nil:
		t.Fatal(err)
	}
}

// NewDatabase creates an empty database for t, dropped when t ends, and
// answers its connection string.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	c.need(t)
	c.mu.Lock()
	c.counter++
	// The pid keeps the names of two test binaries sharing one server
	// (ERRAND_TEST_DATABASE_URL) apart.
	name := fmt.Sprintf("errandtest_%d_%d", os.Getpid(), c.counter)
	c.mu.Unlock()

	c.exec(t, `CREATE DATABASE `+name)
	t.Cleanup(func() {
		// FORCE ends the connections a store failed to close, which would
		// otherwise make DROP fail and leak the database.
		c.exec(t, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u, err := c.databaseURL(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (c *Cluster) databaseURL(name string) (string, error) {
	u, err := url.Parse(c.adminURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: %s is not a URL: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// CreateDatabase starts the cluster if needed and creates an empty
// database outside a test (for errand-bench); Stop removes it with the
// cluster.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if err := c.start(); err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.databaseURL(name)
}

func (c *Cluster) exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Dump is every row of every table of the database at url (its current
// schema), each read as text, for tests that search a database for values
// it must not hold.
func Dump(t testing.TB, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, n := range names {
		var text *string
		if err := conn.QueryRow(ctx, `SELECT string_agg(t::text, E'\n') FROM `+pgx.Identifier{n}.Sanitize()+` t`).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if text != nil {
			all.WriteString(*text + "\n")
		}
	}
	return all.String()
}
