package browser

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
)

// DefaultMaxDownload is the largest file a page may download, 50 MiB: a
// larger one is cancelled as it arrives and fails the task.
const DefaultMaxDownload = 50 << 20

// downloadStall is how long a download may go without receiving a byte
// before it is given up.
const downloadStall = 30 * time.Second

// Download is a file a page of the session downloaded: a click on a
// download link, a response with Content-Disposition: attachment, a blob
// or data: URL a script made. Chromium saves it under the browser's
// download folder; Tab.Downloads hands it over.
type Download struct {
	// URL is where it came from (a blob: or data: URL for a file a script
	// made; a data: URL is cut to 200 characters).
	URL string
	// Name is the file name the site suggested, made safe: no folders, no
	// control characters, at most 200 characters.
	Name string
	// Type is the media type, from the name's extension or else the
	// file's first bytes.
	Type string
	Size int64
	// Path is the file, handed over to the caller, who removes it. Empty
	// when Err is set.
	Path string
	// Err says why the download did not complete; nil when it did.
	Err *DownloadError
}

// DownloadError is a download that did not complete.
type DownloadError struct {
	URL string
	// TooLarge: the file was larger than Limit bytes (its announced size
	// or what had arrived), and was cancelled and discarded.
	TooLarge bool
	Limit    int64
	// Blocked: the network policy or avoidDomains refused its request.
	Blocked bool
	Reason  string
}

func (e *DownloadError) Error() string {
	switch {
	case e.TooLarge:
		return fmt.Sprintf("the download of %s is larger than the %s limit on downloads; it was cancelled and nothing of it was kept", e.URL, sizeText(e.Limit))
	case e.Blocked:
		return fmt.Sprintf("the download of %s was refused: %s", e.URL, e.Reason)
	}
	return fmt.Sprintf("the download of %s did not complete: %s", e.URL, e.Reason)
}

// sizeText writes a byte count for people: "50 MiB", "12.3 KiB", "17 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// downloads follows the downloads of one browser instance. Chromium saves
// every download of a session's browser context in a folder of its own
// (Browser.setDownloadBehavior, allowAndName: each file named by its
// guid) and reports them on the browser's own connection
// (Browser.downloadWillBegin, Browser.downloadProgress), without saying
// which context: the frame that started one tells the session.
//
// Events arrive on chromedp's event loop, which must not wait; they are
// queued and worked in order by one goroutine, which may call the
// browser (to cancel a download over the limit, or to ask which context
// a frame is in).
type downloads struct {
	c    *Chromium
	inst *instance
	dir  string // the instance's download folder, a folder per session in it
	max  int64
	deny bool // a remote browser without a shared folder: downloads are refused

	mu         sync.Mutex
	queue      []any
	wake       chan struct{} // the worker has events to work
	changed    chan struct{} // closed and replaced when a download moves on
	unresolved int           // downloads begun and not yet tied to a session
	byGUID     map[string]*download
	done       map[*session][]Download // ended, not yet handed over
	stop       chan struct{}
}

// download is one download in progress.
type download struct {
	guid, url, name string
	sess            *session
	total, received int64
	last            time.Time // when the last byte arrived (or it began)
	tooLarge        bool
	gaveUp          string // why errand cancelled it, when it did
}

func newDownloads(c *Chromium, inst *instance, dir string, deny bool) *downloads {
	d := &downloads{
		c: c, inst: inst, dir: dir, max: c.cfg.MaxDownload, deny: deny,
		wake: make(chan struct{}, 1), changed: make(chan struct{}),
		byGUID: map[string]*download{}, done: map[*session][]Download{}, stop: make(chan struct{}),
	}
	go d.work()
	return d
}

// close stops the worker; the folder goes with the instance.
func (d *downloads) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
}

// onEvent runs on chromedp's browser event loop: it only queues.
func (d *downloads) onEvent(ev any) {
	switch ev.(type) {
	case *cdpbrowser.EventDownloadWillBegin:
		d.mu.Lock()
		d.unresolved++
		d.mu.Unlock()
	case *cdpbrowser.EventDownloadProgress:
	default:
		return
	}
	d.mu.Lock()
	d.queue = append(d.queue, ev)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *downloads) work() {
	for {
		select {
		case <-d.stop:
			return
		case <-d.wake:
		}
		for {
			d.mu.Lock()
			if len(d.queue) == 0 {
				d.mu.Unlock()
				break
			}
			ev := d.queue[0]
			d.queue = d.queue[1:]
			d.mu.Unlock()
			switch ev := ev.(type) {
			case *cdpbrowser.EventDownloadWillBegin:
				d.begin(ev)
			case *cdpbrowser.EventDownloadProgress:
				d.progress(ev)
			}
		}
	}
}

// changedLocked wakes whoever waits for downloads to end. d.mu is held.
func (d *downloads) changedLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// sessionDir is where a session's downloads are saved.
func (d *downloads) sessionDir(s *session) string {
	return filepath.Join(d.dir, string(s.context))
}

// prepare tells the browser where the session's browser context saves its
// downloads, and to report them.
func (d *downloads) prepare(ctx context.Context, s *session) error {
	p := cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: s.context,
		DownloadPath: d.sessionDir(s), EventsEnabled: ptr(true),
	}
	if d.deny {
		p.Behavior, p.DownloadPath = cdpbrowser.SetDownloadBehaviorBehaviorDeny, ""
	} else if err := os.MkdirAll(p.DownloadPath, 0o700); err != nil {
		return fmt.Errorf("the download folder: %w", err)
	}
	_, err := cdp.Call(ctx, d.inst.browser, cdpbrowser.SetDownloadBehavior, p)
	return err
}

// forget drops what is left of a closed session: its downloads not handed
// over, and its folder.
func (d *downloads) forget(s *session) {
	d.mu.Lock()
	for _, dl := range d.done[s] {
		if dl.Path != "" {
			os.Remove(dl.Path)
		}
	}
	delete(d.done, s)
	for guid, dl := range d.byGUID {
		if dl.sess == s {
			delete(d.byGUID, guid)
		}
	}
	d.changedLocked()
	d.mu.Unlock()
	if !d.deny {
		os.RemoveAll(d.sessionDir(s))
	}
}

// reset drops what a session's earlier task left: downloads not handed
// over are removed, those in progress cancelled, so a task sees only its
// own.
func (d *downloads) reset(s *session) {
	d.mu.Lock()
	var active []string
	for guid, dl := range d.byGUID {
		if dl.sess == s {
			active = append(active, guid)
			delete(d.byGUID, guid)
		}
	}
	for _, dl := range d.done[s] {
		if dl.Path != "" {
			os.Remove(dl.Path)
		}
	}
	delete(d.done, s)
	d.changedLocked()
	d.mu.Unlock()
	for _, guid := range active {
		d.cancel(guid, s)
	}
}

func (d *downloads) begin(ev *cdpbrowser.EventDownloadWillBegin) {
	s := d.c.sessionOfFrame(d.inst, ev.FrameID)
	dl := &download{guid: ev.GUID, url: ev.URL, name: safeName(ev.SuggestedFilename), sess: s, last: time.Now()}
	d.mu.Lock()
	d.unresolved--
	if s != nil {
		d.byGUID[ev.GUID] = dl
	}
	d.changedLocked()
	d.mu.Unlock()
	if s == nil {
		// Nobody to hand it to: not saved.
		d.cancel(ev.GUID, nil)
		return
	}
	d.closeBlankPopup(ev.FrameID)
}

// closeBlankPopup closes a page that a link opened only to download a
// file (target=_blank to an attachment): it never showed a document, and
// browsers close such a tab; the page that opened it is the page again.
func (d *downloads) closeBlankPopup(id cdp.FrameID) {
	ctx, cancel := context.WithTimeout(d.inst.ctx, d.c.cfg.CallTimeout)
	defer cancel()
	info, err := cdp.Call(ctx, d.inst.browser, target.GetTargetInfo, target.GetTargetInfoParams{TargetID: target.ID(id)})
	if err != nil || info.TargetInfo == nil {
		return
	}
	if i := info.TargetInfo; i.Type == "page" && i.OpenerID != "" && (i.URL == "" || i.URL == "about:blank") {
		cdp.Call(ctx, d.inst.browser, target.CloseTarget, target.CloseTargetParams{TargetID: i.TargetID})
	}
}

func (d *downloads) progress(ev *cdpbrowser.EventDownloadProgress) {
	d.mu.Lock()
	dl := d.byGUID[ev.GUID]
	if dl == nil {
		d.mu.Unlock()
		return
	}
	if r := int64(ev.ReceivedBytes); r > dl.received {
		dl.received, dl.last = r, time.Now()
	}
	dl.total = int64(ev.TotalBytes)
	over := !dl.tooLarge && (dl.total > d.max || dl.received > d.max)
	if over {
		dl.tooLarge = true
	}
	d.mu.Unlock()

	switch ev.State {
	case cdpbrowser.DownloadProgressStateInProgress:
		if over {
			d.cancel(dl.guid, dl.sess)
		}
		return
	case cdpbrowser.DownloadProgressStateCompleted:
		d.finish(dl, ev.FilePath)
	default: // canceled
		d.end(dl, Download{URL: dl.url, Name: dl.name, Err: d.failure(dl)})
	}
}

// failure says why a download was cancelled.
func (d *downloads) failure(dl *download) *DownloadError {
	e := &DownloadError{URL: clipURL(dl.url), Reason: "the browser cancelled it"}
	switch {
	case dl.tooLarge:
		e.TooLarge, e.Limit = true, d.max
	case dl.gaveUp != "":
		e.Reason = dl.gaveUp
	case d.deny:
		e.Reason = "downloads need a browser errand launches itself, or a download folder it shares with the browser (--browser ws:// with no shared folder)"
	default:
		if u, err := url.Parse(dl.url); err == nil && u.Host != "" {
			if reason, ok := dl.sess.proxy.refusal(refusedHost(u.Scheme, u.Hostname(), u.Port())); ok {
				e.Blocked, e.Reason = true, reason
			}
		}
	}
	return e
}

// finish checks a completed download against the limit and makes it
// ready to hand over.
func (d *downloads) finish(dl *download, path string) {
	if path == "" {
		path = filepath.Join(d.sessionDir(dl.sess), dl.guid)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		d.end(dl, Download{URL: dl.url, Name: dl.name, Err: &DownloadError{URL: clipURL(dl.url), Reason: "the saved file could not be read"}})
	case fi.Size() > d.max:
		os.Remove(path)
		d.end(dl, Download{URL: dl.url, Name: dl.name, Err: &DownloadError{URL: clipURL(dl.url), TooLarge: true, Limit: d.max}})
	default:
		d.end(dl, Download{URL: clipURL(dl.url), Name: dl.name, Type: mediaType(dl.name, path), Size: fi.Size(), Path: path})
	}
}

func (d *downloads) end(dl *download, result Download) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byGUID[dl.guid] != dl {
		if result.Path != "" {
			os.Remove(result.Path) // its session is gone
		}
		return
	}
	delete(d.byGUID, dl.guid)
	d.done[dl.sess] = append(d.done[dl.sess], result)
	d.changedLocked()
}

// cancel asks the browser to stop a download, in its session's browser
// context (or in each one, when the session is not known).
func (d *downloads) cancel(guid string, s *session) {
	var contexts []cdp.BrowserContextID
	if s != nil {
		contexts = append(contexts, s.context)
	} else {
		d.c.mu.Lock()
		for _, s := range d.inst.sessions {
			contexts = append(contexts, s.context)
		}
		d.c.mu.Unlock()
	}
	for _, bc := range contexts {
		ctx, cancel := context.WithTimeout(d.inst.ctx, d.c.cfg.CallTimeout)
		cdp.Call(ctx, d.inst.browser, cdpbrowser.CancelDownload, cdpbrowser.CancelDownloadParams{GUID: guid, BrowserContextID: bc})
		cancel()
	}
}

// take waits, bounded by ctx, until no download of the session is in
// progress, then hands over those that ended: their files move out of the
// browser's folder into temporary files of the caller's. A download that
// receives nothing for downloadStall is given up.
func (d *downloads) take(ctx context.Context, s *session) []Download {
	for {
		d.mu.Lock()
		busy, stalled := d.unresolved > 0, ""
		for _, dl := range d.byGUID {
			if dl.sess != s {
				continue
			}
			busy = true
			if time.Since(dl.last) > downloadStall && dl.gaveUp == "" {
				dl.gaveUp = fmt.Sprintf("nothing arrived for %s", downloadStall)
				stalled = dl.guid
			}
		}
		ch := d.changed
		d.mu.Unlock()
		if stalled != "" {
			d.cancel(stalled, s)
		}
		if !busy || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		case <-d.inst.lost():
			t.Stop()
			return d.handOver(s)
		}
		t.Stop()
	}
	return d.handOver(s)
}

func (d *downloads) handOver(s *session) []Download {
	d.mu.Lock()
	out := d.done[s]
	delete(d.done, s)
	d.mu.Unlock()
	for i, dl := range out {
		if dl.Path == "" {
			continue
		}
		moved, err := takeFile(dl.Path)
		if err != nil {
			os.Remove(dl.Path)
			out[i] = Download{URL: dl.URL, Name: dl.Name, Err: &DownloadError{URL: dl.URL, Reason: "the saved file could not be moved: " + err.Error()}}
			continue
		}
		out[i].Path = moved
	}
	return out
}

// takeFile moves a file into a new temporary file and returns its path.
func takeFile(src string) (string, error) {
	f, err := os.CreateTemp("", "errand-download-*")
	if err != nil {
		return "", err
	}
	dst := f.Name()
	if err := os.Rename(src, dst); err == nil {
		f.Close()
		return dst, nil
	}
	// Another file system: copy.
	in, err := os.Open(src)
	if err == nil {
		_, err = io.Copy(f, in)
		in.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return "", err
	}
	os.Remove(src)
	return dst, nil
}

// safeName is a suggested file name fit to store and to send back in a
// Content-Disposition: no folders, no control characters, at most 200
// characters; "download" when nothing is left.
func safeName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if name == "" || name == "." || name == ".." {
		return "download"
	}
	return name
}

// mediaType is a file's media type: from its name's extension, else from
// its first bytes.
func mediaType(name, path string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	f, err := os.Open(path)
	if err != nil {
		return "application/octet-stream"
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if n == 0 {
		return "application/octet-stream"
	}
	return http.DetectContentType(head[:n])
}

// clipURL shortens a data: URL, which holds the file itself.
func clipURL(u string) string {
	if strings.HasPrefix(u, "data:") && len(u) > 200 {
		return u[:200] + "…"
	}
	return u
}

// sessionOfFrame finds the session whose pages hold frame id: a frame its
// page knows, else the browser context of the target that frame is (a
// page the session's page opened, an out-of-process frame).
func (c *Chromium) sessionOfFrame(inst *instance, id cdp.FrameID) *session {
	c.mu.Lock()
	for _, s := range inst.sessions {
		if s.tab != nil && s.tab.hasFrame(id) {
			c.mu.Unlock()
			return s
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(inst.ctx, c.cfg.CallTimeout)
	defer cancel()
	info, err := cdp.Call(ctx, inst.browser, target.GetTargetInfo, target.GetTargetInfoParams{TargetID: target.ID(id)})
	if err != nil || info.TargetInfo == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range inst.sessions {
		if s.context == info.TargetInfo.BrowserContextID {
			return s
		}
	}
	return nil
}

// hasFrame reports whether the page holds frame id.
func (t *chromiumTab) hasFrame(id cdp.FrameID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return id == t.frameID || t.frames[id] != nil
}

// hasFrame reports whether one of the session's pages holds frame id.
func (s *sessionTab) hasFrame(id cdp.FrameID) bool {
	s.mu.Lock()
	pages := append([]*chromiumTab(nil), s.pages...)
	s.mu.Unlock()
	for _, p := range pages {
		if p.hasFrame(id) {
			return true
		}
	}
	return false
}

// Downloads implements Tab: the session's downloads, whichever of its
// pages began them.
func (s *sessionTab) Downloads(ctx context.Context) []Download {
	return s.inst.downloads.take(ctx, s.sess)
}
