package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ColumnsError says why a structured_csv outputSchema is not a usable list of
// column names.
type ColumnsError struct {
	// Index is the position of the bad column name, or -1 when the fault is
	// the list as a whole. The HTTP layer reports it as /outputSchema/<Index>.
	Index  int
	Reason string
}

func (e *ColumnsError) Error() string { return e.Reason }

// ParseColumns reads a structured_csv outputSchema: a JSON array of unique,
// non-empty column names, which become the CSV's header row.
func ParseColumns(raw json.RawMessage) ([]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, &ColumnsError{Index: -1, Reason: "outputSchema is empty; structured_csv needs an array of column names"}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &ColumnsError{Index: -1, Reason: "outputSchema for structured_csv must be an array of column names"}
	}
	if len(items) == 0 {
		return nil, &ColumnsError{Index: -1, Reason: "outputSchema for structured_csv must name at least one column"}
	}
	cols := make([]string, len(items))
	first := map[string]int{}
	for i, it := range items {
		var name string
		if err := json.Unmarshal(it, &name); err != nil || string(bytes.TrimSpace(it)) == "null" {
			return nil, &ColumnsError{Index: i, Reason: fmt.Sprintf("column %d must be a string, not %s", i, strings.TrimSpace(string(it)))}
		}
		if strings.TrimSpace(name) == "" {
			return nil, &ColumnsError{Index: i, Reason: fmt.Sprintf("column %d has an empty name", i)}
		}
		if strings.ContainsAny(name, "\r\n") {
			return nil, &ColumnsError{Index: i, Reason: fmt.Sprintf("column %d (%q) contains a line break", i, name)}
		}
		if j, dup := first[name]; dup {
			return nil, &ColumnsError{Index: i, Reason: fmt.Sprintf("column %d (%q) repeats column %d", i, name, j)}
		}
		first[name] = i
		cols[i] = name
	}
	return cols, nil
}

// FormatCSV writes the header row (columns) and then rows, quoting as RFC
// 4180 requires. A row shorter than the header is padded with empty cells
// and a longer one cut, so the result always passes CheckCSV.
func FormatCSV(columns []string, rows [][]string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	// Write only fails on the underlying writer, and strings.Builder does not.
	_ = w.Write(columns)
	for _, r := range rows {
		row := make([]string, len(columns))
		copy(row, r)
		_ = w.Write(row)
	}
	w.Flush()
	return b.String()
}

// CSVError says where a CSV answer breaks the requested shape.
type CSVError struct {
	// Line is the 1-based line of the problem, 0 for the text as a whole.
	Line   int
	Reason string
}

func (e *CSVError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("CSV line %d: %s", e.Line, e.Reason)
	}
	return "CSV: " + e.Reason
}

// CheckCSV checks a CSV answer: its first row must be exactly columns, every
// other row must have one cell per column, and quoting must be strict RFC
// 4180 (a stray quote inside an unquoted cell is an error, not a guess).
func CheckCSV(text string, columns []string) error {
	_, err := ParseCSV(text, columns)
	return err
}

// ParseCSV is CheckCSV that also returns the data rows (without the header).
func ParseCSV(text string, columns []string) ([][]string, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1 // widths are checked below, with a better message
	r.ReuseRecord = false
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &CSVError{Reason: fmt.Sprintf("the answer is empty; want a header row %q", headerLine(columns))}
	}
	if err != nil {
		return nil, csvParseError(err)
	}
	if !equalRow(header, columns) {
		line, _ := r.FieldPos(0)
		return nil, &CSVError{Line: line, Reason: fmt.Sprintf("the header row is %q; want exactly %q", headerLine(header), headerLine(columns))}
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvParseError(err)
		}
		if len(rec) != len(columns) {
			line, _ := r.FieldPos(0)
			return nil, &CSVError{Line: line, Reason: fmt.Sprintf("has %d cells; want %d (%s)", len(rec), len(columns), strings.Join(columns, ", "))}
		}
		rows = append(rows, rec)
	}
}

func csvParseError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVError{Line: pe.Line, Reason: fmt.Sprintf("column %d: %v", pe.Column, pe.Err)}
	}
	return &CSVError{Reason: err.Error()}
}

func equalRow(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// headerLine renders a row the way it would appear in the file.
func headerLine(row []string) string {
	return strings.TrimRight(FormatCSV(row, nil), "\n")
}
