package agent

import (
	"context"
	"fmt"
	"os"

	"github.com/errandhq/errand/internal/task"
)

// maxFiles bounds the files one task keeps; more are not kept, and the
// model and the step log are told.
const maxFiles = 20

// collectDownloads takes what the session's pages downloaded since the last
// look (waiting, bounded by ctx, for downloads in progress): each file is
// kept for the task's result and gets a step ("download": name, type,
// size), and the model is told with its next page view. A download over
// the size limit ends the task: DOWNLOAD_TOO_LARGE, naming its URL.
func (r *taskRun) collectDownloads(ctx context.Context) *task.Outcome {
	if r.tab == nil {
		return nil
	}
	var end *task.Outcome
	for _, d := range r.tab.Downloads(ctx) {
		name, from := r.sec.mask(d.Name), r.sec.mask(d.URL)
		switch {
		case d.Err != nil:
			msg := r.sec.mask(d.Err.Error())
			r.step(task.Step{Action: "download", URL: from, Args: mustRaw(map[string]any{"name": name}), Error: msg})
			r.fileNews = append(r.fileNews, msg+".")
			if d.Err.TooLarge && end == nil {
				end = &task.Outcome{Code: task.CodeDownloadTooLarge, Error: msg}
			}
		case len(r.files) >= maxFiles:
			os.Remove(d.Path)
			msg := fmt.Sprintf("%q was downloaded but not kept: a task keeps at most %d files", name, maxFiles)
			r.step(task.Step{Action: "download", URL: from, Args: mustRaw(map[string]any{"name": name}), Error: msg})
			r.fileNews = append(r.fileNews, msg+".")
		default:
			r.files = append(r.files, task.File{Name: name, Type: d.Type, Size: d.Size, Path: d.Path})
			r.step(task.Step{Action: "download", URL: from, Args: mustRaw(map[string]any{"name": name, "type": d.Type, "size": d.Size})})
			r.fileNews = append(r.fileNews, fmt.Sprintf("A file was downloaded: %q (%s, %d bytes). It is saved with the task's result; you need not read it.", name, d.Type, d.Size))
		}
	}
	return end
}

// lastDownloads collects what was still downloading when the run ended: a
// file over the limit fails a run that would have succeeded.
func (r *taskRun) lastDownloads(ctx context.Context, out task.Outcome) task.Outcome {
	end := r.collectDownloads(ctx)
	if end != nil && out.Code == "" {
		end.Replay = out.Replay
		return *end
	}
	return out
}
