package trace

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// ShotFile is the name of step index's screenshot inside a trace's zip.
func ShotFile(index int) string { return fmt.Sprintf("screenshots/%03d.jpg", index) }

// WriteZip writes a trace as a zip archive: trace.json (the View, each
// screenshot's url naming its file in the archive) and the screenshots
// under screenshots/, read one at a time with shot. A screenshot removed
// between listing and reading is left out, and its step says so.
func WriteZip(ctx context.Context, w io.Writer, v View, shot func(ctx context.Context, index int) ([]byte, error)) error {
	v.Steps = slices.Clone(v.Steps) // the caller's view stays as it was
	zw := zip.NewWriter(w)
	modified := time.Now().UTC()
	if v.EndedAt != nil {
		modified = time.Time(*v.EndedAt)
	}
	for i := range v.Steps {
		sh := v.Steps[i].Screenshot
		if sh == nil || sh.URL == "" {
			continue
		}
		cp := *sh
		sh = &cp
		v.Steps[i].Screenshot = sh
		img, err := shot(ctx, v.Steps[i].Index)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sh.URL, sh.Bytes, sh.Omitted = "", 0, "not in this export: "+err.Error()
			continue
		}
		// JPEG does not compress: stored as is.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: ShotFile(v.Steps[i].Index), Method: zip.Store, Modified: modified})
		if err != nil {
			return err
		}
		if _, err := f.Write(img); err != nil {
			return err
		}
		sh.URL = ShotFile(v.Steps[i].Index)
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "trace.json", Method: zip.Deflate, Modified: modified})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return zw.Close()
}
