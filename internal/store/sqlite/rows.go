package sqlite

import (
	"context"
	"errors"
)

// scanner is one row: *sql.Row or *sql.Rows. An alias, so that scanners
// written for any row (queue.ScanRunTaskArgs) fit queryAll.
type scanner = interface{ Scan(dest ...any) error }

// queryAll runs a query and reads every row it answers with scan: what
// pgx.CollectRows is to the PostgreSQL store, which database/sql lacks.
// Close's error counts: for an UPDATE … RETURNING it can be the
// statement's own.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return out, nil
}

// scanValue reads a row of one column (pgx.RowTo's counterpart).
func scanValue[T any](row scanner) (T, error) {
	var v T
	err := row.Scan(&v)
	return v, err
}
